// How a GEMM reads A (included where a GEMM shader has the gemm_input marker): as stored.

fn load_a(i: u32) -> f32 {
    return a[i];
}

fn load_a4(i4: u32) -> vec4<f32> {
    return a4[i4];
}
