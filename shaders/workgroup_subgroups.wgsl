// Workgroup-wide sum and maximum through subgroup operations (the SUBGROUP feature): each subgroup combines its lanes, its first
// lane keeps the result in workgroup memory, and the subgroups then combine those
// partials: two barriers instead of log2(WG) + 2, at any subgroup size (lavapipe's 8,
// NVIDIA's 32, AMD's 32 or 64, ...). Subgroups are taken to hold consecutive local
// indices, as every known driver lays them out; `gpu_vs_cpu --check` proves it on a
// user's adapter.

// The sum of `v` over the subgroup's active lanes, or their maximum where `is_max`.
fn subgroup_combine(v: f32, is_max: bool) -> f32 {
    return select(subgroupAdd(v), subgroupMax(v), is_max);
}

// `v` combined over the WG threads of the workgroup; every thread gets the result.
fn workgroup_combine(v: f32, lid: u32, is_max: bool) -> f32 {
    let identity = select(0.0, -3.4028235e38, is_max);
    let lanes = subgroupAdd(1u);
    let lane = lid % lanes;
    let partial = subgroup_combine(v, is_max);
    if (lane == 0u) {
        scratch[lid / lanes] = partial;
    }
    workgroupBarrier();
    let partials = (WG + lanes - 1u) / lanes;
    var result = identity;
    for (var first = 0u; first < partials; first = first + lanes) {
        let i = first + lane;
        let part = subgroup_combine(select(identity, scratch[min(i, WG - 1u)], i < partials), is_max);
        result = select(result + part, max(result, part), is_max);
    }
    workgroupBarrier();
    return result;
}

// Sum of `v` over the WG threads of the workgroup; every thread gets the result.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
    return workgroup_combine(v, lid, false);
}

// Maximum of `v` over the WG threads of the workgroup; every thread gets the result.
fn workgroup_max(v: f32, lid: u32) -> f32 {
    return workgroup_combine(v, lid, true);
}
