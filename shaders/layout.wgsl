// Data movement: strided gather (broadcast expansion, scaled) and 2-D transpose.

struct Params {
    n: u32,
    d0: u32, d1: u32, d2: u32, d3: u32, // output dims, front-padded to rank 4
    s0: u32, s1: u32, s2: u32, s3: u32, // source strides per output dim (0 = broadcast)
    scale: f32,
}
//@params

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// out[i] = scale * src[strided(i)]: broadcasting a tensor to a larger shape, or any
// permutation of a rank-4 view (a transpose uses d = (1, 1, cols, rows), s = (0, 0, 1, cols)).
@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        let d = vec4<u32>(P.d0, P.d1, P.d2, P.d3);
        let s = vec4<u32>(P.s0, P.s1, P.s2, P.s3);
        out[i] = P.scale * src[strided_offset(i, d, s)];
    }
}
