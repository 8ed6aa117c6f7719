"""Random indoor scenes: textured planar surfaces, moving objects and a drone-like camera path.

World frame: the camera convention (x right, y down, z forward) at the scene's base pose, the
left camera at the origin at rest. The floor is the plane y = camera height (slightly tilted).
Every surface is a planar rectangle (``half_extent`` infinite for walls) given by an origin,
two orthonormal in-plane axes u, v (texture coordinates are metres along them) and the normal
n = u x v. Boxes are six one-sided rectangles with outward normals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from datasets.synthetic.config import CENTER_X_PX, CENTER_Y_PX, FOCAL_PX, IMAGE_HEIGHT, IMAGE_WIDTH
from datasets.synthetic.textures import TextureAtlas, build_atlas, make_texture


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation from yaw (about y), pitch (about x, positive looks down), roll (about z).

    Returns:
        float64 (3, 3).
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(-pitch), np.sin(-pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_yaw @ r_pitch @ r_roll


@dataclass(frozen=True)
class Surfaces:
    """S planar textured rectangles (arrays indexed by surface).

    Attributes:
        origin, axis_u, axis_v, normal: float64 (S, 3), world frame, metres / unit vectors.
        half_extent: float64 (S, 2), half sizes along u and v (m); inf for unbounded planes.
        one_sided: bool (S,), culled when seen from behind (box faces).
        no_return: bool (S,), visible but without depth (like a lidar's missing return).
        texture_id: int64 (S,), texture of the atlas.
        texel_m: float64 (S,), size of one level-0 texel on the surface (m).
        texture_offset: float64 (S, 2), texture shift (texels).
        gain: float64 (S,), illumination factor multiplying the albedo.
        motion_amplitude: float64 (S, 3), sinusoidal displacement amplitude (m).
        motion_freq_hz: float64 (S,); motion_phase: float64 (S,) (rad).
    """

    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    normal: np.ndarray
    half_extent: np.ndarray
    one_sided: np.ndarray
    no_return: np.ndarray
    texture_id: np.ndarray
    texel_m: np.ndarray
    texture_offset: np.ndarray
    gain: np.ndarray
    motion_amplitude: np.ndarray
    motion_freq_hz: np.ndarray
    motion_phase: np.ndarray

    def __len__(self) -> int:
        return len(self.origin)

    def displacement(self, t: float) -> np.ndarray:
        """World displacement of every surface at time ``t`` (s): float64 (S, 3)."""
        wave = np.sin(2 * np.pi * self.motion_freq_hz * t + self.motion_phase)
        return self.motion_amplitude * wave[:, None]

    def max_speed(self) -> float:
        """Upper bound of any surface's speed (m/s)."""
        speeds = np.linalg.norm(self.motion_amplitude, axis=1) * 2 * np.pi * self.motion_freq_hz
        return float(speeds.max(initial=0.0))


@dataclass(frozen=True)
class Trajectory:
    """Smooth bounded camera motion: sums of sinusoids on position and on yaw/pitch/roll.

    Attributes:
        base_angles: float64 (3,), yaw, pitch (down), roll (rad).
        position_amplitude, position_freq_hz, position_phase: float64 (3, K), per world axis.
        angle_amplitude, angle_freq_hz, angle_phase: float64 (3, K), per angle.
    """

    base_angles: np.ndarray
    position_amplitude: np.ndarray
    position_freq_hz: np.ndarray
    position_phase: np.ndarray
    angle_amplitude: np.ndarray
    angle_freq_hz: np.ndarray
    angle_phase: np.ndarray

    @classmethod
    def still(cls, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> Trajectory:
        """A camera that stays at the origin with the given orientation (rad)."""
        zeros, ones = np.zeros((3, 1)), np.ones((3, 1))
        return cls(np.array([yaw, pitch, roll], float), zeros, ones, zeros, zeros, ones, zeros)

    @staticmethod
    def _wave(amp: np.ndarray, freq: np.ndarray, phase: np.ndarray, t: float) -> np.ndarray:
        return (amp * np.sin(2 * np.pi * freq * t + phase)).sum(axis=1)

    @staticmethod
    def _rate(amp: np.ndarray, freq: np.ndarray, phase: np.ndarray, t: float) -> np.ndarray:
        return (amp * 2 * np.pi * freq * np.cos(2 * np.pi * freq * t + phase)).sum(axis=1)

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Left camera pose at time ``t`` (s): camera-to-world rotation (3, 3) and centre (3,) (m)."""
        angles = self.base_angles + self._wave(self.angle_amplitude, self.angle_freq_hz, self.angle_phase, t)
        centre = self._wave(self.position_amplitude, self.position_freq_hz, self.position_phase, t)
        return rotation_matrix(*angles), centre

    def speeds(self, t: float) -> tuple[float, float]:
        """Linear speed (m/s) and (approximate, small-angle) angular speed (rad/s) at time ``t``."""
        linear = self._rate(self.position_amplitude, self.position_freq_hz, self.position_phase, t)
        angular = self._rate(self.angle_amplitude, self.angle_freq_hz, self.angle_phase, t)
        return float(np.linalg.norm(linear)), float(np.linalg.norm(angular))


@dataclass(frozen=True)
class Scene:
    """A complete random scene.

    Attributes:
        surfaces: the textured rectangles.
        atlas: their textures.
        trajectory: the left camera's motion (the right camera is rigidly attached).
        background: intensity where a ray hits nothing (depth NaN).
        summary: human-readable facts (object kinds, texture kinds, speeds) for reports.
    """

    surfaces: Surfaces
    atlas: TextureAtlas
    trajectory: Trajectory
    background: float
    summary: dict = field(default_factory=dict)


class SurfaceBuilder:
    """Accumulates surfaces and their textures while a scene is being built.

    Example:
        >>> import numpy as np
        >>> builder = SurfaceBuilder(np.random.default_rng(0))
        >>> wall = builder.texture(64, "noise")
        >>> builder.add([0, 0, 2.0], [1, 0, 0], [0, 1, 0], texture_id=wall, texel_m=0.01, gain=1.0)
        >>> surfaces, atlas = builder.build()
        >>> len(surfaces), atlas.num_levels.tolist()
        (1, [6])
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[dict] = []
        self.textures: list[np.ndarray] = []
        self.kinds: list[str] = []

    def texture(self, size: int, kind: str | None = None) -> int:
        """Draw a texture (see :func:`make_texture`) and return its id."""
        kind = kind or str(self.rng.choice(["noise", "stripes", "checkers", "blobs", "cells"]))
        self.textures.append(make_texture(self.rng, size, kind))
        self.kinds.append(kind)
        return len(self.textures) - 1

    def add(self, origin, axis_u, axis_v, *, half_extent=(np.inf, np.inf), texture_id: int, texel_m: float,
            gain: float, one_sided: bool = False, no_return: bool = False,
            motion=(np.zeros(3), 0.0, 0.0)) -> None:
        """Add a rectangle (see :class:`Surfaces` for the fields); ``motion`` = (amplitude (3,), Hz, phase)."""
        axis_u = np.asarray(axis_u, float) / np.linalg.norm(axis_u)
        axis_v = np.asarray(axis_v, float) / np.linalg.norm(axis_v)
        self.rows.append(dict(
            origin=np.asarray(origin, float), axis_u=axis_u, axis_v=axis_v, normal=np.cross(axis_u, axis_v),
            half_extent=np.asarray(half_extent, float), one_sided=one_sided, no_return=no_return,
            texture_id=texture_id, texel_m=texel_m, texture_offset=self.rng.uniform(0, 512, 2), gain=gain,
            motion_amplitude=np.asarray(motion[0], float), motion_freq_hz=motion[1], motion_phase=motion[2]))

    def build(self) -> tuple[Surfaces, TextureAtlas]:
        """The surfaces added so far and the atlas of their textures."""
        columns = {key: np.array([row[key] for row in self.rows]) for key in self.rows[0]}
        columns["texture_id"] = columns["texture_id"].astype(np.int64)
        columns["one_sided"] = columns["one_sided"].astype(bool)
        columns["no_return"] = columns["no_return"].astype(bool)
        return Surfaces(**columns), build_atlas(self.textures)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _random_trajectory(rng: np.random.Generator, *, waves: int = 2) -> tuple[Trajectory, dict]:
    """A bounded drone-like path: lateral sway dominant, some forward and vertical motion, small rotation."""
    speed = _log_uniform(rng, 0.05, 0.45)  # m/s, overall scale
    turn = np.deg2rad(_log_uniform(rng, 1.0, 15.0))  # rad/s, overall scale
    freq = rng.uniform(0.1, 0.7, (3, waves))
    phase = rng.uniform(0, 2 * np.pi, (3, waves))
    weights = np.array([1.0, 0.4, 0.6])[:, None] * rng.uniform(0.5, 1.0, (3, 1))
    amplitude = speed * weights / (2 * np.pi * freq) / np.sqrt(waves)
    caps = np.array([0.35, 0.15, 0.15])[:, None] / waves  # total excursion per axis (m)
    amplitude = np.minimum(amplitude, caps) * rng.choice([-1, 1], (3, waves))
    a_freq = rng.uniform(0.1, 0.8, (3, waves))
    a_phase = rng.uniform(0, 2 * np.pi, (3, waves))
    a_weights = np.array([1.0, 0.6, 0.3])[:, None] * rng.uniform(0.5, 1.0, (3, 1))
    a_amplitude = np.minimum(turn * a_weights / (2 * np.pi * a_freq) / np.sqrt(waves), np.deg2rad(8) / waves)
    base = np.array([np.deg2rad(rng.uniform(-10, 10)), np.deg2rad(rng.uniform(0, 15)),
                     np.deg2rad(rng.uniform(-3, 3))])
    trajectory = Trajectory(base, amplitude, freq, phase, a_amplitude, a_freq, a_phase)
    return trajectory, {"speed_scale_m_s": round(speed, 3), "turn_scale_deg_s": round(float(np.rad2deg(turn)), 2)}


def make_scene(rng: np.random.Generator, *, min_depth_m: float = 0.6, moving_objects: bool = True) -> Scene:
    """Draw a random room with 2-6 objects and a camera path.

    Args:
        rng: the only source of randomness.
        min_depth_m: objects stay (roughly) beyond this depth even as the camera moves.
        moving_objects: let some objects move sinusoidally.

    Returns:
        The scene; ``scene.summary`` lists what was drawn.
    """
    out = SurfaceBuilder(rng)
    trajectory, summary = _random_trajectory(rng)
    r_base = rotation_matrix(*trajectory.base_angles)
    height = rng.uniform(0.8, 1.6)  # camera above floor (m)
    wall_z = _log_uniform(rng, 4.0, 12.0)

    # Floor: slightly tilted plane under the camera.
    tilt = rotation_matrix(rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04))
    out.add([0, height, 0], tilt @ [1, 0, 0], tilt @ [0, 0, 1], texture_id=out.texture(512),
            texel_m=0.7 * height / FOCAL_PX, gain=rng.uniform(0.5, 1.0))
    # Far wall, possibly turned; beyond max depth it becomes a no-return region in the GT.
    wall_rot = rotation_matrix(rng.uniform(-0.35, 0.35), 0.0, 0.0)
    wall_origin = np.array([0, 0, wall_z])
    out.add(wall_origin, wall_rot @ [1, 0, 0], wall_rot @ [0, 1, 0], texture_id=out.texture(512),
            texel_m=0.5 * wall_z / FOCAL_PX, gain=rng.uniform(0.4, 1.0))
    side_walls = []
    for side in (-1, 1):
        if rng.random() < 0.5:
            x = side * rng.uniform(1.5, 4.0)
            out.add([x, 0, 0], [0, 0, 1], [0, 1, 0], texture_id=out.texture(512),
                    texel_m=0.5 * abs(x) / FOCAL_PX, gain=rng.uniform(0.4, 1.0))
            side_walls.append(side)
    if rng.random() < 0.35:
        ceiling = rng.uniform(1.0, 2.5)
        out.add([0, -ceiling, 0], [1, 0, 0], [0, 0, -1], texture_id=out.texture(256),
                texel_m=0.7 * ceiling / FOCAL_PX, gain=rng.uniform(0.6, 1.0))
    # "No return": a window or doorway on the far wall that the depth sensor cannot see.
    has_window = rng.random() < 0.7
    if has_window:
        hit = wall_origin + wall_rot @ [rng.uniform(-2, 2), rng.uniform(-1.0, 0.5), 0]
        out.add(hit - 0.02 * (wall_rot @ [0, 0, 1]), wall_rot @ [1, 0, 0], wall_rot @ [0, 1, 0],
                half_extent=(rng.uniform(0.4, 1.5), rng.uniform(0.4, 1.2)), texture_id=out.texture(256),
                texel_m=0.5 * wall_z / FOCAL_PX, gain=rng.uniform(0.2, 0.6), no_return=True)

    objects = []
    for _ in range(int(rng.integers(2, 7))):
        objects.append(_add_object(out, rng, r_base, height=height, wall_z=wall_z,
                                   min_depth_m=min_depth_m, moving=moving_objects))
    summary.update(camera_height_m=round(height, 2), far_wall_m=round(wall_z, 2), side_walls=side_walls,
                   window=has_window, objects=objects, textures=out.kinds)
    surfaces, atlas = out.build()
    return Scene(surfaces, atlas, trajectory, background=0.05, summary=summary)


def _add_object(out: SurfaceBuilder, rng: np.random.Generator, r_base: np.ndarray, *, height: float,
                wall_z: float, min_depth_m: float, moving: bool) -> str:
    """Add one board or box somewhere in the base view; returns a short description."""
    depth = _log_uniform(rng, min_depth_m + 0.45, min(6.0, 0.8 * wall_z))
    px = rng.uniform(0.1, 0.9) * IMAGE_WIDTH
    py = rng.uniform(0.1, 0.8) * IMAGE_HEIGHT
    ray = np.array([(px - CENTER_X_PX) / FOCAL_PX, (py - CENTER_Y_PX) / FOCAL_PX, 1.0])
    centre = r_base @ (ray * depth)
    width = rng.uniform(40, 200) * depth / FOCAL_PX
    tall = width * _log_uniform(rng, 0.4, 2.5)
    texel = 0.8 * max(depth - 0.35, 0.5) / FOCAL_PX
    motion = (np.zeros(3), 0.0, 0.0)
    if moving and rng.random() < 0.35:
        room = max(0.05, min(0.25, depth - min_depth_m - 0.35))
        direction = rng.normal(size=3)
        amplitude = rng.uniform(0.03, room)
        top_freq = min(1.0, 0.4 / (2 * np.pi * amplitude))  # at most 0.4 m/s
        motion = (direction / np.linalg.norm(direction) * amplitude,
                  rng.uniform(0.1, top_freq), rng.uniform(0, 2 * np.pi))
    gain = rng.uniform(0.5, 1.0)
    if rng.random() < 0.6:
        if rng.random() < 0.35:  # fronto-parallel to the base view
            rot = r_base
        else:
            rot = r_base @ rotation_matrix(rng.uniform(-1.0, 1.0), rng.uniform(-0.6, 0.6), rng.uniform(-0.3, 0.3))
        out.add(centre, rot @ [1, 0, 0], rot @ [0, 1, 0], half_extent=(width / 2, tall / 2),
                texture_id=out.texture(256), texel_m=texel, gain=gain, motion=motion)
        return f"board at {depth:.2f} m" + (" (moving)" if motion[1] else "")
    # A box upright in the world, standing on the floor half of the time.
    half = np.array([width, tall, width * rng.uniform(0.3, 1.2)]) / 2
    if rng.random() < 0.5 or centre[1] + half[1] > height:
        centre[1] = height - half[1]
    rot = rotation_matrix(rng.uniform(-0.8, 0.8), 0.0, 0.0)
    kind = str(rng.choice(["noise", "stripes", "checkers", "blobs", "cells"]))
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = np.zeros(3)
            normal[axis] = sign
            a, b = [i for i in range(3) if i != axis]
            u, v = np.eye(3)[a], np.eye(3)[b]
            if np.dot(np.cross(u, v), normal) < 0:
                u = -u
            face_gain = gain * (0.75 + 0.25 * rng.random())  # faces lit differently
            out.add(centre + rot @ (normal * half[axis]), rot @ u, rot @ v, half_extent=(half[a], half[b]),
                    texture_id=out.texture(128, kind), texel_m=texel, gain=face_gain, one_sided=True,
                    motion=motion)
    return f"box at {depth:.2f} m" + (" (moving)" if motion[1] else "")
