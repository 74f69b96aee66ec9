// The output of a GEMM that also sums the rows of op(A) (the `matmul_row_sums` family):
// C as computed at binding 2, the row sums at binding 3. Included where a GEMM shader has
// the gemm_output marker.

@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> row_sums: array<f32>;

fn store(i: u32, col: u32, v: f32) {
    c[i] = v;
}

fn store4(i4: u32, col: u32, v: vec4<f32>) {
    c4[i4] = v;
}

fn store_row_sum(i: u32, v: f32) {
    row_sums[i] = v;
}
