// Elementwise binary ops with broadcasting: each operand is read through its own strides.

struct Params {
    n: u32,
    d0: u32, d1: u32, d2: u32, d3: u32, // output dims, front-padded to rank 4
    a0: u32, a1: u32, a2: u32, a3: u32, // strides of a per output dim (0 = broadcast)
    b0: u32, b1: u32, b2: u32, b3: u32, // strides of b per output dim
}
//@params

// 0 add, 1 sub, 2 mul, 3 div, 4 equal (1 or 0)
override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let d = vec4<u32>(P.d0, P.d1, P.d2, P.d3);
    let x = a[strided_offset(i, d, vec4<u32>(P.a0, P.a1, P.a2, P.a3))];
    let y = b[strided_offset(i, d, vec4<u32>(P.b0, P.b1, P.b2, P.b3))];
    var r: f32;
    switch OP {
        case 0u: { r = x + y; }
        case 1u: { r = x - y; }
        case 2u: { r = x * y; }
        case 3u: { r = x / y; }
        default: { r = select(0.0, 1.0, x == y); }
    }
    out[i] = r;
}
