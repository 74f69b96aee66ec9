// The 64x64-tile GEMM core shared by matmul.wgsl and conv2d.wgsl (included where a
// shader has the gemm_tiles marker): tile sizes, the workgroup tiles, and the per-thread 4x4
// multiply-accumulate over one BK-deep step. Each kernel fills the tiles its own way.

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [BK][BM]
var<workgroup> tile_b: array<f32, 1024>; // [BK][BN]

// acc += tile_a · tile_b for this thread's 4x4 block (rows lid.y + 16i, cols lid.x + 16j).
fn multiply_tiles(lid: vec3<u32>, acc: ptr<function, array<f32, 16>>) {
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
        var ra: array<f32, 4>;
        var rb: array<f32, 4>;
        for (var i = 0u; i < 4u; i = i + 1u) {
            ra[i] = tile_a[kk * BM + lid.y + 16u * i];
            rb[i] = tile_b[kk * BN + lid.x + 16u * i];
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                (*acc)[i * 4u + j] = fma(ra[i], rb[j], (*acc)[i * 4u + j]);
            }
        }
    }
}

// sums[i] += Σ_kk tile_a[kk][lid.y + 16i]: the row sums of this BK-deep step of A for the
// thread's rows.
fn sum_tile_rows(lid: vec3<u32>, sums: ptr<function, array<f32, 4>>) {
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            (*sums)[i] = (*sums)[i] + tile_a[kk * BM + lid.y + 16u * i];
        }
    }
}
