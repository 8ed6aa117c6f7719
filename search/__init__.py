"""Differentiable architecture search of spiking networks: SpikeDHS, DGS, TPS, HNS."""
