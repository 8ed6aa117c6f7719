"""Ray casting of intensity and depth for a rectified pinhole camera (numba).

Pixel (x, y), centres at integer coordinates, looks along the camera-frame ray
r = ((x - cx) / f, (y - cy) / f, 1); a plane hit at r * Z has depth Z. Surfaces are textured
with trilinear mip-mapping whose level follows the pixel footprint on the surface, so the image
is band-limited like a real lens's and does not flicker as the camera moves. Occlusion edges
are not anti-aliased (one ray per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from datasets.synthetic.config import (
    BASELINE_M,
    CENTER_X_PX,
    CENTER_Y_PX,
    FOCAL_PX,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
)
from datasets.synthetic.scene import Scene

_FAR = 1e30  # stands for "no hit" / "unbounded" inside the kernel (fastmath assumes no inf)


@dataclass(frozen=True)
class View:
    """One rendered image.

    Attributes:
        intensity: float32 (H, W), linear radiance in (0, 1].
        depth: float32 (H, W), camera-frame Z of the first hit (m); inf where nothing is hit.
        surface: int32 (H, W), index of the surface hit, -1 where nothing is hit.
    """

    intensity: np.ndarray
    depth: np.ndarray
    surface: np.ndarray


@numba.njit(cache=True, fastmath=True, inline="always")
def _sample_level(data, offset, size, u, v):
    """Bilinear, wrap-around sample of one square mip level at texel coordinates (u, v)."""
    u -= 0.5
    v -= 0.5
    x0 = int(np.floor(u))
    y0 = int(np.floor(v))
    fu = u - x0
    fv = v - y0
    mask = size - 1  # sizes are powers of two: & wraps negative indices too
    x1 = (x0 + 1) & mask
    y1 = (y0 + 1) & mask
    x0 &= mask
    y0 &= mask
    top = data[offset + y0 * size + x0] * (1 - fu) + data[offset + y0 * size + x1] * fu
    bottom = data[offset + y1 * size + x0] * (1 - fu) + data[offset + y1 * size + x1] * fu
    return top * (1 - fv) + bottom * fv


@numba.njit(cache=True, fastmath=True)
def _render_kernel(rot_wc, centre, origin, axis_u, axis_v, normal, half_extent, one_sided, texture_id,
                   texel_m, texture_offset, gain, atlas_data, atlas_offsets, atlas_sizes, atlas_levels,
                   fx, fy, cx, cy, background, intensity, depth, surface, coord_a, coord_b):
    height, width = depth.shape
    num = origin.shape[0]
    depth[:, :] = _FAR
    surface[:, :] = -1
    # Surfaces in the camera frame: vectors v_c = R^T v_w, points o_c = R^T (o_w - c).
    n_c = np.empty((num, 3))
    u_c = np.empty((num, 3))
    v_c = np.empty((num, 3))
    o_c = np.empty((num, 3))
    for s in range(num):
        for i in range(3):
            n_c[s, i] = rot_wc[0, i] * normal[s, 0] + rot_wc[1, i] * normal[s, 1] + rot_wc[2, i] * normal[s, 2]
            u_c[s, i] = rot_wc[0, i] * axis_u[s, 0] + rot_wc[1, i] * axis_u[s, 1] + rot_wc[2, i] * axis_u[s, 2]
            v_c[s, i] = rot_wc[0, i] * axis_v[s, 0] + rot_wc[1, i] * axis_v[s, 1] + rot_wc[2, i] * axis_v[s, 2]
            o_c[s, i] = (rot_wc[0, i] * (origin[s, 0] - centre[0]) + rot_wc[1, i] * (origin[s, 1] - centre[1])
                         + rot_wc[2, i] * (origin[s, 2] - centre[2]))
    for s in range(num):
        nx, ny, nz = n_c[s, 0], n_c[s, 1], n_c[s, 2]
        plane = nx * o_c[s, 0] + ny * o_c[s, 1] + nz * o_c[s, 2]  # n . o; the camera is at 0
        if one_sided[s] and plane >= 0.0:
            continue  # back face
        ha, hb = half_extent[s, 0], half_extent[s, 1]
        uo = u_c[s, 0] * o_c[s, 0] + u_c[s, 1] * o_c[s, 1] + u_c[s, 2] * o_c[s, 2]
        vo = v_c[s, 0] * o_c[s, 0] + v_c[s, 1] * o_c[s, 1] + v_c[s, 2] * o_c[s, 2]
        x_lo, x_hi, y_lo, y_hi = 0, width, 0, height
        if ha < _FAR:  # bounded: restrict to the projected bounding box when all corners are in front
            all_front, all_behind = True, True
            px_min, px_max, py_min, py_max = 1e9, -1e9, 1e9, -1e9
            for sa in (-1.0, 1.0):
                for sb in (-1.0, 1.0):
                    qx = o_c[s, 0] + sa * ha * u_c[s, 0] + sb * hb * v_c[s, 0]
                    qy = o_c[s, 1] + sa * ha * u_c[s, 1] + sb * hb * v_c[s, 1]
                    qz = o_c[s, 2] + sa * ha * u_c[s, 2] + sb * hb * v_c[s, 2]
                    if qz > 1e-3:
                        all_behind = False
                        px, py = cx + fx * qx / qz, cy + fy * qy / qz
                        px_min, px_max = min(px_min, px), max(px_max, px)
                        py_min, py_max = min(py_min, py), max(py_max, py)
                    else:
                        all_front = False
            if all_behind:
                continue
            if all_front:
                x_lo = max(0, int(np.floor(px_min)) - 1)
                x_hi = min(width, int(np.ceil(px_max)) + 2)
                y_lo = max(0, int(np.floor(py_min)) - 1)
                y_hi = min(height, int(np.ceil(py_max)) + 2)
        sign = 1.0 if plane > 0.0 else -1.0
        for y in range(y_lo, y_hi):
            ry = (y - cy) / fy
            # den(x) = nx / fx * x + row: the hit is in front (z > 0) where den has the sign of
            # n . o, a half-line of the row; skip the rest of the row.
            row = ny * ry + nz - nx * cx / fx
            slope = nx / fx
            x_start, x_stop = x_lo, x_hi
            if slope * sign > 1e-15:
                x_start = max(x_start, int(np.floor(-row / slope)) + 1)
            elif slope * sign < -1e-15:
                x_stop = min(x_stop, int(np.ceil(-row / slope)))
            elif row * sign <= 0.0:
                continue
            for x in range(x_start, x_stop):
                rx = (x - cx) / fx
                den = slope * x + row
                if den * sign <= 1e-12:
                    continue
                z = plane / den
                if z >= depth[y, x]:
                    continue
                a = z * (u_c[s, 0] * rx + u_c[s, 1] * ry + u_c[s, 2]) - uo
                if abs(a) > ha:
                    continue
                b = z * (v_c[s, 0] * rx + v_c[s, 1] * ry + v_c[s, 2]) - vo
                if abs(b) > hb:
                    continue
                depth[y, x] = z
                surface[y, x] = s
                coord_a[y, x] = a
                coord_b[y, x] = b
    # Shading: trilinear mip-mapped texture lookup of the winning surface.
    for y in range(height):
        ry = (y - cy) / fy
        for x in range(width):
            s = surface[y, x]
            if s < 0:
                intensity[y, x] = background
                continue
            rx = (x - cx) / fx
            ray_norm = np.sqrt(rx * rx + ry * ry + 1.0)
            cos_incidence = abs(n_c[s, 0] * rx + n_c[s, 1] * ry + n_c[s, 2]) / ray_norm
            # Footprint of the pixel on the surface (m): Z / f across, stretched by the slant.
            footprint = depth[y, x] / fx / np.sqrt(max(cos_incidence, 0.02))
            t = texture_id[s]
            lod = np.log2(max(footprint / texel_m[s], 1e-6))
            top = atlas_levels[t] - 1
            lod = min(max(lod, 0.0), float(top))
            level = min(int(lod), top)
            frac = lod - level
            tu = coord_a[y, x] / texel_m[s] + texture_offset[s, 0]
            tv = coord_b[y, x] / texel_m[s] + texture_offset[s, 1]
            scale = 1.0 / (1 << level)
            value = _sample_level(atlas_data, atlas_offsets[t, level], atlas_sizes[t, level], tu * scale, tv * scale)
            if frac > 0.0 and level < top:
                upper = _sample_level(atlas_data, atlas_offsets[t, level + 1], atlas_sizes[t, level + 1],
                                      tu * scale * 0.5, tv * scale * 0.5)
                value = value * (1.0 - frac) + upper * frac
            intensity[y, x] = gain[s] * value


class Renderer:
    """Renders a scene from the left or right camera of the rectified pair.

    Args:
        scene: what to render.
        width, height: image size (px); the MVSEC DAVIS346 by default.
        focal_px, center_x_px, center_y_px: rectified intrinsics (px).
        baseline_m: the right camera sits at +baseline along the left camera's x axis.
    """

    def __init__(self, scene: Scene, *, width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT,
                 focal_px: float = FOCAL_PX, center_x_px: float = CENTER_X_PX,
                 center_y_px: float = CENTER_Y_PX, baseline_m: float = BASELINE_M) -> None:
        self.scene = scene
        self.width, self.height = width, height
        self.focal_px, self.center_x_px, self.center_y_px = focal_px, center_x_px, center_y_px
        self.baseline_m = baseline_m
        surf = scene.surfaces
        self._half_extent = np.where(np.isfinite(surf.half_extent), surf.half_extent, _FAR)
        self._coord_a = np.empty((height, width))
        self._coord_b = np.empty((height, width))

    def render(self, t: float, camera: str = "left") -> View:
        """Render the view of ``camera`` ('left' or 'right') at time ``t`` (s)."""
        if camera not in ("left", "right"):
            raise ValueError(f"camera must be 'left' or 'right', got {camera!r}")
        rot_wc, centre = self.scene.trajectory.pose(t)
        if camera == "right":
            centre = centre + rot_wc[:, 0] * self.baseline_m
        return self.render_pose(rot_wc, centre, t)

    def render_pose(self, rot_wc: np.ndarray, centre: np.ndarray, t: float = 0.0) -> View:
        """Render from an explicit camera-to-world rotation (3, 3) and centre (3,) (m) at time ``t``."""
        surf, atlas = self.scene.surfaces, self.scene.atlas
        intensity = np.empty((self.height, self.width), dtype=np.float32)
        depth = np.empty((self.height, self.width), dtype=np.float32)
        surface = np.empty((self.height, self.width), dtype=np.int32)
        _render_kernel(np.ascontiguousarray(rot_wc, dtype=np.float64), np.asarray(centre, dtype=np.float64),
                       surf.origin + surf.displacement(t), surf.axis_u, surf.axis_v, surf.normal,
                       self._half_extent, surf.one_sided, surf.texture_id, surf.texel_m, surf.texture_offset,
                       surf.gain, atlas.data, atlas.offsets, atlas.sizes, atlas.num_levels,
                       self.focal_px, self.focal_px, self.center_x_px, self.center_y_px,
                       float(self.scene.background), intensity, depth, surface, self._coord_a, self._coord_b)
        depth[surface < 0] = np.inf
        return View(intensity, depth, surface)

    def ground_truth_depth(self, view: View, *, min_depth_m: float, max_depth_m: float) -> np.ndarray:
        """Depth as a depth sensor sees it: NaN where nothing or a no-return surface is hit, or out of range.

        Returns:
            float32 (H, W), metres.
        """
        no_return = np.append(self.scene.surfaces.no_return, True)  # index -1 -> "nothing hit"
        depth = view.depth.copy()
        invalid = no_return[view.surface] | (depth < min_depth_m) | (depth > max_depth_m)
        depth[invalid] = np.nan
        return depth
