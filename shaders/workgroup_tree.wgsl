// Workgroup-wide sum and maximum by a tree in workgroup memory: log2(WG) steps, each
// ending in a barrier. Works on every adapter.

// Sum of `v` over the WG threads of the workgroup; every thread gets the result.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            scratch[lid] = scratch[lid] + scratch[lid + stride];
        }
        workgroupBarrier();
    }
    let total = scratch[0];
    workgroupBarrier();
    return total;
}

// Maximum of `v` over the WG threads of the workgroup; every thread gets the result.
fn workgroup_max(v: f32, lid: u32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            scratch[lid] = max(scratch[lid], scratch[lid + stride]);
        }
        workgroupBarrier();
    }
    let best = scratch[0];
    workgroupBarrier();
    return best;
}
