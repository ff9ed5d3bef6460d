"""The strings of chapter 13 ("beyond the notes"), in English and Korean; ``text_en`` and ``text_ko`` include them."""

from __future__ import annotations

_UNMEASURED_EN = ("{method} reached the target axis-aligned on neither problem (valley steps: {aligned} aligned, "
                  "{rotated} at the largest tilt; slowdowns {valley} and {quad}, threshold {threshold}×): no slowdown "
                  "was measured, so the data says nothing either way.")
_UNMEASURED_KO = ("{method}은(는) 두 문제 모두 축 정렬 상태에서 목표에 닿지 못했다 (골짜기: 축 정렬 {aligned} step, 가장 많이 "
                  "기울인 경우 {rotated} step; 느려진 배수 {valley}, {quad}, 기준 {threshold}배): 느려진 정도를 잴 수 "
                  "없으므로 데이터는 어느 쪽도 말하지 않는다.")

BEYOND_EN: dict[str, str] = {
    "beyond.title": "Beyond the notes: a tilted valley",
    "beyond.gist": "when the valley is tilted, per-coordinate methods cannot rotate, and none of the methods so far "
                   "solves this",
    "beyond.setup": (
        "The notes stop at the tilted valley; this chapter runs the methods built since then on it. Problems: the "
        "valley of chapter 1 (condition number {kappa}) at 0°, {angle_mid}° and {angle_max}°, {steps} steps, target "
        "f < {target} (as in chapter 9); and a {quad_dim}-dimensional quadratic with condition number "
        "{quad_condition} and a random rotation (seed {quad_seed}), next to its axis-aligned twin (the same "
        "eigenvalues, start and minimum, seen in the eigenbasis), {quad_steps} steps, target f - f* ≤ "
        "{quad_target}·(f(x₀) - f*). SGD, momentum, Adam, Shampoo, SOAP and Muon each get the best lr of "
        "{grid_n} values from {grid_lo} to {grid_hi} on each valley ({quad_grid_n} values from {quad_grid_lo} to "
        "{quad_grid_hi} on each quadratic), picked by final loss as in chapter 9. L-BFGS (history {history}, "
        "strong Wolfe line search) and Newton (exact Hessian, trust region) get the lr of {second_n} values from "
        "{second_lo} to {second_hi} that reaches the target in the fewest iterations. Shampoo, SOAP and Muon "
        "precondition matrices, so every first-order method sees the point as a 1 × n matrix (the elementwise "
        "rules give the same numbers in any shape). Muon orthogonalises its whole update, and the orthogonal "
        "factor of a 1 × n matrix u is u/‖u‖: on this shape Muon takes normalised momentum steps, not "
        "per-coordinate signs. Muon approximates the factor by Newton–Schulz iterations; the last table measures "
        "its first update's direction against -g and -sign(g), and its length. Shampoo runs with its defaults, "
        "SOAP and Muon with theirs except weight decay 0 (decay would move the minimum). The slowdown is the rotated "
        "run's steps over the aligned run's, at the worse angle (a run that misses the target counts as its "
        "budget, and the slowdown is then a lower bound). The cost is measured on the rotated quadratic at each "
        "tuned lr: time per step (median of {timed} steps, gradient included; for L-BFGS and Newton the run's "
        "time over its iterations, line search or Hessian included) and the bytes of the tensors the optimizer "
        "keeps in its state between steps, per parameter. The notes' claim holds for a per-coordinate method "
        "slowed at least {large}×; a method counts as slowed at {slowed}× or more."
    ),
    "beyond.fig.steps": "Steps to target per method (log scale). Left: the valley at each angle; right: the quadratic "
                        "axis-aligned (I) and rotated (Q). Hatched bars missed the target within the budget.",
    "beyond.table.steps": "Steps to target: the valley f < {target}, the quadratic f - f* ≤ {quad_target}·(f(x₀) - f*); "
                          "> means the budget passed without reaching it, — that the aligned run missed (no slowdown "
                          "measured).",
    "beyond.table.cost": "Cost on the rotated quadratic at each tuned lr: time per step (median of {timed}) and "
                         "state memory (bytes of the tensors kept between steps, per parameter, float64).",
    "beyond.table.muon": "Muon's first update from the start of the {angle}° valley, the point held as a 1 × 2 matrix "
                         "(lr = 1): cosine with -g, cosine with -sign(g), and its length.",
    "beyond.col.valley0": "valley {angle0}°", "beyond.col.valley1": "valley {angle1}°",
    "beyond.col.valley2": "valley {angle2}°", "beyond.col.valley_slowdown": "valley slowdown",
    "beyond.col.aligned": "quadratic, axis-aligned", "beyond.col.rotated": "quadratic, rotated",
    "beyond.col.quad_slowdown": "quadratic slowdown",
    "beyond.col.valley_lr": "tuned lr, valley {angle0}°, {angle1}°, {angle2}°",
    "beyond.col.quad_lr": "tuned lr, quadratic aligned, rotated", "beyond.col.ms": "ms per step",
    "beyond.col.bytes": "state bytes per parameter", "beyond.col.cos_gradient": "cosine with -g",
    "beyond.col.cos_sign": "cosine with -sign(g)", "beyond.col.length": "length / lr",
    "beyond.diagonal.supports": "Rotating the valley slows {method} {valley} (steps: {aligned} aligned, {rotated} at "
                                "the largest tilt) and the quadratic {quad}: at least {threshold}× on a problem, so "
                                "the notes' claim holds for this per-coordinate method.",
    "beyond.diagonal.contradicts": "Rotation slows {method} only {valley} on the valley (steps: {aligned} aligned, "
                                   "{rotated} at the largest tilt) and {quad} on the quadratic: below {threshold}× "
                                   "wherever measured, so here the tilt does not hurt this per-coordinate method.",
    "beyond.diagonal.unmeasured": _UNMEASURED_EN,
    "beyond.rotates.supports": "{method} is slowed by the rotation too: {valley} on the valley (steps: {aligned} "
                               "aligned, {rotated} at the largest tilt) and {quad} on the quadratic, at least "
                               "{threshold}× on a problem: here it does not solve the tilt either.",
    "beyond.rotates.contradicts": "{method} is not slowed by the rotation: {valley} on the valley (steps: {aligned} "
                                  "aligned, {rotated} at the largest tilt) and {quad} on the quadratic, below "
                                  "{threshold}× wherever measured: for {method} the tilt is no problem.",
    "beyond.rotates.unmeasured": _UNMEASURED_EN,
}

BEYOND_KO: dict[str, str] = {
    "beyond.title": "노트 너머: 기울어진 골짜기",
    "beyond.gist": "",
    "beyond.setup": (
        "노트는 기울어진 골짜기에서 멈춘다. 이 장은 그 뒤에 나온 방법들을 같은 문제에 돌린다. 문제: 1장의 골짜기"
        "(condition number {kappa})를 0°, {angle_mid}°, {angle_max}° 회전한 것, {steps} step, 목표 f < {target} "
        "(9장과 같음); 그리고 condition number {quad_condition}이고 무작위로 회전한(seed {quad_seed}) {quad_dim}차원 "
        "이차함수와, 그것을 고유벡터 기저에서 본 축 정렬 쌍둥이(고윳값, 시작점, 최솟점이 같다), {quad_steps} step, 목표 "
        "f - f* ≤ {quad_target}·(f(x₀) - f*). SGD, momentum, Adam, Shampoo, SOAP, Muon은 골짜기마다 {grid_lo}~{grid_hi}의 "
        "{grid_n}개 값(이차함수에서는 {quad_grid_lo}~{quad_grid_hi}의 {quad_grid_n}개 값) 중 9장처럼 최종 loss로 고른 "
        "최적 lr을 받는다. L-BFGS(history {history}, strong Wolfe line search)와 Newton(exact Hessian, trust region)은 "
        "{second_lo}~{second_hi}의 {second_n}개 값 중 가장 적은 반복으로 목표에 닿는 lr을 받는다. Shampoo, SOAP, Muon은 "
        "행렬을 precondition하므로 모든 1차 방법은 점을 1 × n 행렬로 받는다 (원소별 규칙은 어떤 모양이든 같은 숫자를 "
        "낸다). Muon은 update 전체를 직교화하는데, 1 × n 행렬 u의 직교 인자는 u/‖u‖이다: 이 모양에서 Muon은 정규화된 "
        "momentum step을 밟으며, 좌표별 부호를 따르지 않는다. Muon은 이 인자를 Newton–Schulz 반복으로 근사한다; 마지막 "
        "표는 첫 update의 방향을 -g, -sign(g)와 비교하고 그 길이를 잰다. Shampoo는 기본값으로, SOAP과 Muon은 weight "
        "decay만 0으로 두고 기본값으로 돌린다 (decay는 최솟점을 옮긴다). 느려진 배수는 "
        "회전한 실행의 step 수를 축 정렬 실행의 step 수로 나눈 값이며, 더 나쁜 각도의 값이다 (목표에 못 닿은 실행은 예산 "
        "전체로 치므로, 그때 배수는 하한이다). 비용은 회전한 이차함수에서 각자의 튜닝된 lr로 잰다: step당 시간({timed} "
        "step의 중앙값, gradient 계산 포함; L-BFGS와 Newton은 실행 시간을 반복 수로 나눈 값으로 line search나 Hessian "
        "포함), 그리고 optimizer가 step 사이에 state로 보관하는 tensor의 parameter당 바이트 수. 노트의 주장은 "
        "{large}배 이상 느려지는 좌표별 방법에 대해 성립하며, {slowed}배 이상이면 느려진 것으로 본다."
    ),
    "beyond.fig.steps": "방법별 목표까지의 step 수 (로그 눈금). 왼쪽: 각 각도의 골짜기; 오른쪽: 축 정렬(I)과 회전(Q) "
                        "이차함수. 빗금 막대는 예산 안에 목표에 닿지 못했다.",
    "beyond.table.steps": "목표까지의 step 수: 골짜기는 f < {target}, 이차함수는 f - f* ≤ {quad_target}·(f(x₀) - f*); "
                          ">는 예산이 다 가도록 닿지 못했다는 뜻이고, —는 축 정렬 실행이 닿지 못해 느려진 배수를 잴 수 "
                          "없다는 뜻이다.",
    "beyond.table.cost": "회전한 이차함수에서 각자의 튜닝된 lr로 잰 비용: step당 시간({timed}개의 중앙값)과 state "
                         "메모리(step 사이에 보관하는 tensor의 parameter당 바이트 수, float64).",
    "beyond.table.muon": "{angle}° 골짜기의 시작점에서 Muon의 첫 update, 점은 1 × 2 행렬 (lr = 1): -g와의 cosine, "
                         "-sign(g)와의 cosine, 그리고 길이.",
    "beyond.col.valley0": "골짜기 {angle0}°", "beyond.col.valley1": "골짜기 {angle1}°",
    "beyond.col.valley2": "골짜기 {angle2}°", "beyond.col.valley_slowdown": "골짜기 느려진 배수",
    "beyond.col.aligned": "이차함수, 축 정렬", "beyond.col.rotated": "이차함수, 회전",
    "beyond.col.quad_slowdown": "이차함수 느려진 배수",
    "beyond.col.valley_lr": "튜닝된 lr, 골짜기 {angle0}°, {angle1}°, {angle2}°",
    "beyond.col.quad_lr": "튜닝된 lr, 이차함수 축 정렬, 회전", "beyond.col.ms": "step당 ms",
    "beyond.col.bytes": "parameter당 state 바이트", "beyond.col.cos_gradient": "-g와의 cosine",
    "beyond.col.cos_sign": "-sign(g)와의 cosine", "beyond.col.length": "길이 / lr",
    "beyond.diagonal.supports": "골짜기를 회전하면 {method}은(는) {valley} 느려지고 (축 정렬 {aligned} step, 가장 많이 "
                                "기울인 경우 {rotated} step) 이차함수에서는 {quad} 느려진다: 적어도 한 문제에서 "
                                "{threshold}배 이상이므로 이 좌표별 방법에 대해 노트의 주장이 성립한다.",
    "beyond.diagonal.contradicts": "회전해도 {method}은(는) 골짜기에서 {valley} (축 정렬 {aligned} step, 가장 많이 기울인 "
                                   "경우 {rotated} step), 이차함수에서 {quad}만 느려진다: 잰 곳 모두 {threshold}배 "
                                   "미만이므로 여기서는 기울기가 이 좌표별 방법을 해치지 않는다.",
    "beyond.diagonal.unmeasured": _UNMEASURED_KO,
    "beyond.rotates.supports": "{method}도 회전 때문에 느려진다: 골짜기에서 {valley} (축 정렬 {aligned} step, 가장 "
                               "많이 기울인 경우 {rotated} step), 이차함수에서 {quad}, 적어도 한 문제에서 {threshold}배 "
                               "이상이다: 여기서는 이 방법도 기울기를 풀지 못한다.",
    "beyond.rotates.contradicts": "{method}은(는) 회전 때문에 느려지지 않는다: 골짜기에서 {valley} (축 정렬 {aligned} step, "
                                  "가장 많이 기울인 경우 {rotated} step), 이차함수에서 {quad}로 잰 곳 모두 "
                                  "{threshold}배 미만이다: {method}에게 기울기는 문제가 되지 않는다.",
    "beyond.rotates.unmeasured": _UNMEASURED_KO,
}
