// Image augmentation: each image n of an (N, C, H, W) batch is rotated about its centre by
// an angle uniform in ±max_radians and shifted by (tx, ty) uniform in ±max_shift pixels,
// drawn from the counter-based stream (elements 3n, 3n+1, 3n+2) of the seed. Output pixels
// sample the input bilinearly, with zeros outside it. sin and cos are the same polynomial
// as the CPU twin (src/ops/augment.rs), so both devices agree to rounding.

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    seed_lo: u32, seed_hi: u32,
    max_radians: f32, max_shift: f32,
}
//@params

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// (sin a, cos a) for |a| <= π by Taylor series to the 17th / 16th power (error < 1e-6).
fn sin_cos(a: f32) -> vec2<f32> {
    let a2 = a * a;
    var s = 1.0;
    var c = 1.0;
    for (var k = 8u; k >= 1u; k--) {
        let kf = f32(k);
        s = 1.0 - a2 / ((2.0 * kf) * (2.0 * kf + 1.0)) * s;
        c = 1.0 - a2 / ((2.0 * kf - 1.0) * (2.0 * kf)) * c;
    }
    return vec2<f32>(a * s, c);
}

// Input pixel (x, y) of `plane`, or 0 outside the image.
fn pixel(plane: u32, x: i32, y: i32) -> f32 {
    if (x < 0 || y < 0 || x >= i32(P.w) || y >= i32(P.h)) {
        return 0.0;
    }
    return src[(plane * P.h + u32(y)) * P.w + u32(x)];
}

@compute @workgroup_size(256)
fn random_affine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n * P.c * P.h * P.w) {
        return;
    }
    let plane = i / (P.h * P.w);
    let image = plane / P.c;
    let draw = vec3<f32>(
        seeded_uniform(3u * image, P.seed_lo, P.seed_hi),
        seeded_uniform(3u * image + 1u, P.seed_lo, P.seed_hi),
        seeded_uniform(3u * image + 2u, P.seed_lo, P.seed_hi),
    ) * 2.0 - 1.0;
    let sc = sin_cos(draw.x * P.max_radians);
    let centre = vec2<f32>(f32(P.w - 1u), f32(P.h - 1u)) * 0.5;
    // Output p = R·(q − centre) + centre + t, so the source is q = Rᵀ·(p − centre − t) + centre.
    let p = vec2<f32>(f32(i % P.w), f32((i / P.w) % P.h)) - centre - draw.yz * P.max_shift;
    let q = vec2<f32>(sc.y * p.x + sc.x * p.y, -sc.x * p.x + sc.y * p.y) + centre;
    let base = floor(q);
    let f = q - base;
    let x0 = i32(base.x);
    let y0 = i32(base.y);
    let top = pixel(plane, x0, y0) * (1.0 - f.x) + pixel(plane, x0 + 1, y0) * f.x;
    let bottom = pixel(plane, x0, y0 + 1) * (1.0 - f.x) + pixel(plane, x0 + 1, y0 + 1) * f.x;
    out[i] = top * (1.0 - f.y) + bottom * f.y;
}
