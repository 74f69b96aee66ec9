// Batch gathering: rows of a dataset picked by an index list (a shuffled epoch order),
// from f32 rows or from u8 rows packed four to a word (MNIST stays u8 on the GPU and is
// scaled to f32 here).

struct Params {
    count: u32,      // rows to gather
    row_len: u32,    // values per row
    start: u32,      // first position in the index list
    scale: f32,      // multiplies each value (1/255 for pixels)
    target_len: u32, // batch_* kernels: values per row of the targets
}
//@params

@group(0) @binding(0) var<storage, read> src_f32: array<f32>;
@group(0) @binding(0) var<storage, read> src_u8: array<u32>;
@group(0) @binding(1) var<storage, read> order: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Where value i of the gathered rows of `len` values lies in the source.
fn source_index_of(i: u32, len: u32) -> u32 {
    let row = u32(order[P.start + i / len]);
    return row * len + i % len;
}

fn source_index(i: u32) -> u32 {
    return source_index_of(i, P.row_len);
}

fn unpack_byte(byte: u32) -> f32 {
    let word = src_u8[byte / 4u];
    return f32((word >> ((byte % 4u) * 8u)) & 0xffu);
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
        out[i] = unpack_byte(source_index(i)) * P.scale;
    }
}

// A training batch in one dispatch: the first count·row_len threads gather the samples
// (f32 rows or packed bytes), the next count·target_len ones the targets.
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> batch_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> batch_targets: array<f32>;

// The target part of a batch: false when thread i gathers a sample value instead.
fn gather_target(i: u32) -> bool {
    let samples = P.count * P.row_len;
    if (i < samples) {
        return false;
    }
    let t = i - samples;
    if (t < P.count * P.target_len) {
        batch_targets[t] = targets[source_index_of(t, P.target_len)];
    }
    return true;
}

@compute @workgroup_size(256)
fn batch_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (!gather_target(i)) {
        batch_out[i] = src_f32[source_index(i)] * P.scale;
    }
}

@compute @workgroup_size(256)
fn batch_u8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (!gather_target(i)) {
        batch_out[i] = unpack_byte(source_index(i)) * P.scale;
    }
}
