// Clipping by global norm, appended to the optimizer's `_norm` families after their
// generated bindings (the `partials` buffer and `sum_of_squares` come from
// src/optim/kernel.rs). The first pass writes partial sums of g² over the dispatch's
// gradients; the step kernel (CLIP 2) adds every partial sum in each workgroup, in the
// same order everywhere, so all workgroups scale by the same factor.

// The clipping factor 1 / max(norm * P.clip, 1); every thread of the workgroup calls it.
fn norm_clip_scale(lid: u32) -> f32 {
    var s = 0.0;
    for (var i = lid; i < P.partial_count; i = i + WG) {
        s = s + partials[i];
    }
    let norm = sqrt(workgroup_sum(s, lid));
    return 1.0 / max(norm * P.clip, 1.0);
}

// One partial sum of squares per workgroup, over a grid-strided share of every gradient.
@compute @workgroup_size(256)
fn partial_squares(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let s = workgroup_sum(sum_of_squares(wid.x * WG + lid.x, nwg.x * WG), lid.x);
    if (lid.x == 0u) {
        partials[P.partial_first + wid.x] = s;
    }
}
