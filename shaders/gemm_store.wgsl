// The output of a plain GEMM (the `matmul` families): C as computed. Included where a
// GEMM shader has the gemm_output marker; `store` writes one element, `store4` four.

@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> c4: array<vec4<f32>>;

fn store(i: u32, col: u32, v: f32) {
    c[i] = v;
}

fn store4(i4: u32, col: u32, v: vec4<f32>) {
    c4[i4] = v;
}

fn store_row_sum(i: u32, v: f32) {} // row sums are the `matmul_row_sums` family's
