// Batch gathering: rows of a dataset picked by an index list (a shuffled epoch order),
// from f32 rows or from u8 rows packed four to a word (MNIST stays u8 on the GPU and is
// scaled to f32 here).

struct Params {
    count: u32,   // rows to gather
    row_len: u32, // values per row
    start: u32,   // first position in the index list
    scale: f32,   // multiplies each value (1/255 for pixels)
}
//@params

@group(0) @binding(0) var<storage, read> src_f32: array<f32>;
@group(0) @binding(0) var<storage, read> src_u8: array<u32>;
@group(0) @binding(1) var<storage, read> order: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn source_index(i: u32) -> u32 {
    let row = u32(order[P.start + i / P.row_len]);
    return row * P.row_len + i % P.row_len;
}

@compute @workgroup_size(256)
fn gather_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.count * P.row_len) {
        out[i] = src_f32[source_index(i)] * P.scale;
    }
}

@compute @workgroup_size(256)
fn gather_u8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.count * P.row_len) {
        let byte = source_index(i);
        let word = src_u8[byte / 4u];
        out[i] = f32((word >> ((byte % 4u) * 8u)) & 0xffu) * P.scale;
    }
}
