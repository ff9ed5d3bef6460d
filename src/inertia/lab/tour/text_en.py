"""English strings of the tour (keys mirror :mod:`inertia.lab.tour.text_ko`)."""

from __future__ import annotations

from inertia.lab.tour.text_beyond import BEYOND_EN

_FAIR = ("Fairness: every optimizer compared here gets its own learning rate, the best of the same small "
         "log-spaced grid, with the same step budget.")

EN: dict[str, str] = {
    "page.title": "inertia tour: the optimization notes, measured",
    "page.intro": (
        "This report walks through the CS231n-style optimization notes that inertia follows, chapter by "
        "chapter. Each chapter quotes a claim of the notes, runs a small experiment with inertia's "
        "optimizers, shows the measured numbers, and states whether the data supports or contradicts "
        "the claim. Every verdict sentence is computed from the numbers in its chapter.\n\n"
        "Where optimizers are compared, each one gets its own learning rate from the same log-spaced grid "
        "with the same budget. Runs are deterministic for a given seed (seed {seed}); wall times vary."
    ),
    "page.footer": "Generated in {seconds} s.",
    "page.playground": "Open the playground: drag the learning rate and watch each optimizer (offline, one file)",
    "page.tryit": "Try it in the playground",
    "outcome.supports": "Supports the notes",
    "outcome.contradicts": "Contradicts the notes",
    "outcome.mixed": "Partly supports the notes",
    "notes": "The notes say: «{quote}» ({gist})",
    "progress.chapter": "Chapter {number}/{total}: {title}",
    "progress.render": "Writing the report",
    # ------------------------------------------------------------------ table headers
    "col.run": "run", "col.lr": "lr", "col.steep_flips": "sign flips of y (steep)",
    "col.shallow_flips": "sign flips of x (shallow)", "col.path_ratio": "path length / straight distance",
    "col.final_loss": "final loss", "col.batch": "batch size", "col.grad_noise": "gradient noise E|g_B - g|²",
    "col.final_excess": "final excess loss (mean)", "col.loss_std": "std of loss (last {tail_pct}%)",
    "col.steep_share": "share of excess loss on the steep axis (%)", "col.surface": "surface",
    "col.missed_pct": "starts not ending at the global minimum (%)", "col.mean_final": "mean final loss",
    "col.dim": "dimension", "col.minimum_pct": "random Hessians that are minima (%)",
    "col.stall_steps": "steps with |∇f| < {stall_gradient} before escaping", "col.escape_step": "escape step (f < {escape_loss})",
    "col.saddle_pct": "random Hessians that are saddles (%)", "col.overshoot_pct": "overshoot (% of start distance)",
    "col.steps_to_target": "steps to f < {target}", "col.momentum_overshoot": "momentum overshoot (%)",
    "col.nesterov_overshoot": "Nesterov overshoot (%)", "col.ratio": "Nesterov / momentum",
    "col.step_early": "effective step at step {early}", "col.step_last": "effective step at the last step",
    "col.first_half": "distance covered, first half", "col.second_half": "distance covered, second half",
    "col.tuned_lr": "tuned lr", "col.step_ratio": "last / step-{early} effective step",
    "col.first_step": "first update / lr", "col.max_step_early": "largest update / lr (first {early} steps)",
    "col.peak_loss_early": "peak loss (first {early} steps)", "col.steps_aligned": "steps to f < {target}, axis-aligned",
    "col.steps_rotated": "steps to f < {target}, rotated {angle}°", "col.slowdown": "slowdown",
    "col.schedule": "schedule", "col.seed_std": "std over the {eval_seeds} evaluation seeds", "col.vs_constant": "relative to constant",
    "col.plateau_decays": "plateau decayed at steps (first seed)", "col.problem": "problem", "col.method": "method",
    "col.iters_to_target": "iterations to target", "col.fevals": "function evaluations",
    "col.hvps": "Hessian-vector products", "col.final_gap": "final f - f*", "col.steps": "steps",
    "col.optimizer": "optimizer", "col.val_acc": "validation accuracy (%)", "col.test_acc": "test accuracy (%)",
    "col.test_loss": "test loss", "col.train_loss": "final train loss", "col.seconds": "seconds per run",
    # ------------------------------------------------------------------ chapter 1
    "zigzag.title": "SGD zig-zags in an ill-conditioned valley",
    "zigzag.gist": "zig-zag appears when the slope differs between axes; full-batch GD would first settle the "
                   "steep axis and then move along the shallow one, and mini-batch noise makes SGD bounce",
    "zigzag.setup": (
        "Surface: the valley f = (x²/{kappa} + y²)/2 (condition number {kappa}) from {start}, {steps} steps. We run "
        "full-batch GD at its tuned lr (grid of {grid_n} values from {grid_lo} to {grid_hi}, scored by the final "
        "loss; final losses below {converged} count as converged and tie, and a tie goes to the smaller lr), GD at "
        "the cautious lr {cautious_lr} (below 1/curvature of the steep axis), and SGD with Gaussian gradient noise "
        "(σ = {noise}, a stand-in for mini-batches) at its own tuned lr. A zig-zag is counted as a sign change of "
        "the steep coordinate y; it counts as zig-zagging when that happens in at least {flip_pct}% of the steps."
    ),
    "zigzag.fig.contour": "Paths on the valley (the star is the minimum).",
    "zigzag.fig.steep": "The steep coordinate y during the first {steps} steps.",
    "zigzag.sgd.supports": ("SGD's steep coordinate changed sign in {flips} of {steps} steps while the shallow one "
                            "changed sign {shallow} times, and its path was {ratio}× longer than the straight line "
                            "from start to end: it zig-zags across the valley."),
    "zigzag.sgd.contradicts": ("SGD's steep coordinate changed sign in only {flips} of {steps} steps (path {ratio}× "
                               "the straight line, {shallow} sign changes of x): no zig-zag here."),
    "zigzag.gd.contradicts": (
        "Full-batch GD at its tuned lr {lr} zig-zags too ({flips} sign changes in {steps} steps): without any "
        "gradient noise, so the zig-zag is not only mini-batch noise. At the smaller lr {cautious_lr} GD changed the "
        "steep coordinate's sign {cautious_flips} times and ended at f = {cautious_final} (tuned lr: {gd_final})."),
    "zigzag.gd.supports": (
        "Full-batch GD at its tuned lr {lr} changed the steep coordinate's sign only {flips} times in {steps} "
        "steps: without noise it settles the steep axis first and then moves along the shallow one (at lr "
        "{cautious_lr}: {cautious_flips} sign changes, f = {cautious_final}; tuned: f = {gd_final})."),
    # ------------------------------------------------------------------ chapter 2
    "minibatch.title": "Mini-batch noise",
    "minibatch.gist": "mini-batch gradients are noisy, so SGD keeps bouncing, and the steep axis reacts most",
    "minibatch.setup": (
        "Problem: least squares on {samples} samples with two features of scale {scale_small} and {scale_large} (a "
        "valley of condition ~{condition}). SGD runs {steps} steps at the same lr {lr} for batch sizes {batch_lo} to "
        "{batch_hi} (the full batch), sampling real mini-batches; the lr is held fixed so that only the noise "
        "changes. The gradient noise E|g_B - g|² is measured at the minimum from {draws} batches; losses are excess "
        "losses f - f* averaged over the last {tail_pct}% of steps."
    ),
    "minibatch.fig.contour": "Paths with batch size {small} and with the full batch.",
    "minibatch.fig.loss": "Excess loss per step for each batch size (log scale).",
    "minibatch.noise.supports": ("With batch size {small}, SGD ended {ratio}× above the full batch ({large}), and "
                                 "the final loss rises with the gradient noise (rank correlation {rho})."),
    "minibatch.noise.contradicts": ("The final loss does not follow the gradient noise: batch {small} ended at {ratio}× "
                                    "the full batch ({large}), rank correlation {rho}."),
    "minibatch.steep.supports": ("With batch size {small}, {share}% of the remaining excess loss lies along the steep "
                                 "axis: the noise shakes mostly the sensitive direction."),
    "minibatch.steep.contradicts": ("With batch size {small}, only {share}% of the remaining excess loss lies along the "
                                    "steep axis: the noise does not mainly shake the sensitive direction."),
    # ------------------------------------------------------------------ chapter 3
    "minima.title": "Local minima",
    "minima.gist": "SGD can stop in a local minimum; momentum fixes this and rolls past narrow minima; in high "
                   "dimensions local minima are rare",
    "minima.setup": (
        "Rastrigin's surface (a bowl covered with local minima) from {starts} random starts in [-{box}, {box}]², "
        "{steps} steps: GD, momentum {mu}, noisy SGD (σ = {noise}) and Adam, each at the lr of the grid "
        "{grid_lo}…{grid_hi} ({grid_n} values) with the lowest mean final loss. A start 'misses' when it ends "
        "farther than {radius} from the global minimum. The same for GD and momentum on a surface with a narrow "
        "deep minimum beside a wide shallow one. Last, a toy model of high dimensions: the share of {samples} "
        "random symmetric Gaussian matrices per dimension whose eigenvalues are all positive (a critical point with "
        "such a Hessian is a minimum)."
    ),
    "minima.fig.contour": "{shown} of the {starts} starts for GD and momentum on Rastrigin's surface.",
    "minima.table.census": "Random Hessians (GOE model): how often a critical point is a minimum.",
    "minima.trapped.supports": "GD ended away from the global minimum from {missed}% of the {starts} starts: in two "
                               "dimensions it stops in local minima.",
    "minima.trapped.contradicts": "GD missed the global minimum from only {missed}% of the {starts} starts: local "
                                  "minima did not trap it here.",
    "minima.momentum.supports": "Momentum missed from {momentum}% of the starts against GD's {gd}% (noisy SGD "
                                "{sgd}%, Adam {adam}%): it escapes local minima more often.",
    "minima.momentum.contradicts": "Momentum missed from {momentum}% of the starts against GD's {gd}% (noisy SGD "
                                   "{sgd}%, Adam {adam}%): with a tuned lr it does not escape Rastrigin's minima "
                                   "clearly more often (by at least 10 points).",
    "minima.narrow.supports": "On the narrow/wide surface momentum ended in the narrow minimum from {momentum}% of "
                              "the starts against GD's {gd}%: it rolls past narrow minima more often.",
    "minima.narrow.contradicts": "On the narrow/wide surface momentum ended in the narrow minimum from {momentum}% "
                                 "of the starts against GD's {gd}%: it does not skip the narrow minimum more often.",
    "minima.highdim.supports": "In the random-Hessian model {low}% of critical points are minima in dimension "
                               "{low_dim} but {high}% in dimension {high_dim}: minima become rare as the dimension grows.",
    "minima.highdim.contradicts": "In the random-Hessian model {low}% of critical points are minima in dimension "
                                  "{low_dim} and {high}% in dimension {high_dim}: they do not go from common to rare "
                                  "(at most 1%) as the dimension grows.",
    # ------------------------------------------------------------------ chapter 4
    "saddle.title": "Saddle points",
    "saddle.gist": "at a saddle point the gradient vanishes and SGD stops updating; in high dimensions saddles are "
                   "common, so they are a real problem",
    "saddle.setup": (
        "Surface: f = x² - y² + y⁴/4, saddle at the origin, minima -1 at (0, ±√2). Start {start}, almost on the "
        "saddle's attracting line, {steps} steps. GD, SGD with gradient noise σ = {noise}, momentum {mu} and Adam, "
        "each at the lr of the grid {grid_lo}…{grid_hi} ({grid_n} values) with the lowest mean loss over the run. "
        "Escaping means reaching f < {escape_loss}. The second table counts saddles among random symmetric "
        "Gaussian Hessians."
    ),
    "saddle.fig.contour": "Paths near the saddle.",
    "saddle.fig.loss": "f - (-1) per step (log scale): the flat part is the time spent at the saddle.",
    "saddle.table.census": "Random Hessians (GOE model): how often a critical point is a saddle.",
    "saddle.stall.supports": "GD spent {stall} of its {escape} steps before escaping with |∇f| < 0.1 ({share}%): "
                             "near the saddle it barely moves.",
    "saddle.stall.contradicts": "GD spent only {stall} of its {escape} steps before escaping with |∇f| < 0.1 "
                                "({share}%, less than half): the saddle did not hold it for most of the way.",
    "saddle.momentum.supports": "Momentum escaped at step {momentum} against GD's {gd} ({speedup}× sooner); "
                                "Adam, which rescales the tiny y-gradient, at step {adam}.",
    "saddle.momentum.contradicts": "Momentum escaped at step {momentum} against GD's {gd} ({speedup}× as fast): "
                                   "with tuned lrs it is not clearly (1.5×) quicker off this saddle. Adam, which "
                                   "rescales the tiny y-gradient, escaped at step {adam}.",
    "saddle.noise.contradicts": "The notes' SGD runs on noisy mini-batch gradients, and here the noise frees it: "
                                "noisy SGD escaped at step {sgd} against exact GD's {gd} ({speedup}× sooner), so the "
                                "vanishing gradient holds exact GD longer than noisy SGD.",
    "saddle.noise.supports": "Gradient noise did not clearly (1.5×) speed up the escape: noisy SGD escaped at step "
                             "{sgd} against exact GD's {gd} ({speedup}× as fast).",
    "saddle.highdim.supports": "In dimension {dim}, {share}% of random Hessians are indefinite: almost every critical "
                               "point is a saddle, as the notes say.",
    "saddle.highdim.contradicts": "In dimension {dim}, only {share}% of random Hessians are indefinite.",
    # ------------------------------------------------------------------ chapter 5
    "momentum.title": "Momentum and overshooting",
    "momentum.gist": "the velocity lets momentum take larger steps, but it cannot stop itself from overshooting "
                     "the minimum",
    "momentum.setup": (
        "The valley of chapter 1 (condition number {kappa}), {steps} steps, GD and momentum {mu} each at its tuned "
        "lr (same grid). Overshoot: how far the path goes past the minimum along the start-to-minimum line, as a "
        "percentage of the start distance (crossings of the steep axis alone are the zig-zag of chapter 1, counted "
        "as sign flips of y). inertia.SGD uses torch's form b ← μb + g, x ← x - lr·b; at a constant lr, as here, "
        "it takes exactly the steps of the notes' velocity form v ← μv - lr·g, x ← x + v (v = -lr·b); the two "
        "differ only when the lr changes during a run. " + _FAIR
    ),
    "momentum.fig.contour": "GD and momentum on the valley.",
    "momentum.fig.approach": "Position along the start-to-minimum line; below 0 is past the minimum.",
    "momentum.speed.supports": "Momentum reached f < {target} at step {momentum}, GD at step {gd}; momentum also "
                               "flipped the steep coordinate {mflips} times against GD's {gflips}.",
    "momentum.speed.contradicts": "Momentum reached f < {target} at step {momentum}, GD at step {gd}: no faster here "
                                  "(steep-axis sign flips {mflips} against {gflips}).",
    "momentum.overshoot.supports": "Momentum overshot the minimum by {momentum}% of the start distance; GD by {gd}%.",
    "momentum.overshoot.contradicts": "Momentum overshot by {momentum}% of the start distance and GD by {gd}%: "
                                      "momentum's overshoot is not both marked (at least 5%) and larger than GD's.",
    # ------------------------------------------------------------------ chapter 6
    "nesterov.title": "Nesterov's smaller overshoot",
    "nesterov.gist": "Nesterov looks one step ahead and brakes before it overshoots; the overshoot shrinks but "
                     "does not vanish",
    "nesterov.setup": (
        "Same valley and budget. Momentum and Nesterov (both μ = {mu}) are compared at matched learning rates "
        "({sweep_n} values from {sweep_lo} to {sweep_hi}, pairs counted where both are stable and momentum "
        "overshoots by at least {min_overshoot_pct}%), and each at its own tuned lr. inertia's Nesterov is torch's "
        "b ← μb + g, x ← x - lr·(g + μb): the notes' look-ahead update (the gradient taken after the velocity step) "
        "rewritten at a single point, as the notes suggest, so the iterates shown are the look-ahead points x + μv."
    ),
    "nesterov.fig.contour": "Momentum and Nesterov at the same lr.",
    "nesterov.fig.gif": "Animation of the same two runs.",
    "nesterov.fig.sweep": "Overshoot against the learning rate.",
    "nesterov.table.sweep": "Overshoot at matched learning rates.",
    "nesterov.less.supports": "At matched learning rates Nesterov overshoots {less}% less than momentum (median "
                              "ratio {ratio} over {matched} learning rates, from {low} to {high}).",
    "nesterov.less.mixed": "At matched learning rates Nesterov overshoots about as much as momentum (median ratio "
                           "{ratio} over {matched} learning rates, from {low} to {high}).",
    "nesterov.less.contradicts": "At matched learning rates Nesterov overshoots more than momentum (median ratio "
                                 "{ratio} over {matched} learning rates, from {low} to {high}).",
    "nesterov.less.none": "No matched learning rate had a measurable overshoot ({matched} pairs), so the claim "
                          "could not be checked.",
    "nesterov.still.supports": "The overshoot remains: at its tuned lr {nlr} Nesterov still overshoots by "
                               "{nesterov}% (momentum at {mlr}: {momentum}%) and reaches f < 1e-3 at step {nhit} "
                               "(momentum: {mhit}).",
    "nesterov.still.contradicts": "At its tuned lr {nlr} Nesterov overshoots by only {nesterov}% (momentum at {mlr}: "
                                  "{momentum}%): the overshoot is gone; it reaches f < 1e-3 at step {nhit} "
                                  "(momentum: {mhit}).",
    # ------------------------------------------------------------------ chapter 7
    "adagrad.title": "AdaGrad stops early",
    "adagrad.gist": "AdaGrad's cache keeps growing, its learning rate decays towards zero and learning stops early",
    "adagrad.setup": (
        "Surface: a long valley f = √(1 + x²) - 1 + 5y² whose floor has a constant slope, from {start}, {steps} "
        "steps. AdaGrad and RMSprop first run at the same lr (RMSprop's tuned one), then each at its own tuned lr "
        "from the grid {grid_lo}…{grid_hi} ({grid_n} values). The effective step along x is |Δx|/|g_x|, which is "
        "lr/(√cache + ε) for both rules."
    ),
    "adagrad.fig.contour": "AdaGrad and RMSprop at the same lr.",
    "adagrad.fig.x": "x against step for both rules at the same lr (the floor runs along x).",
    "adagrad.table.tuned": "Each optimizer at its own tuned lr.",
    "adagrad.decay.supports": "AdaGrad's effective step fell from {a0} at step {early} to {a1} ({shrink}× smaller) "
                              "while RMSprop's went from {r0} to {r1}.",
    "adagrad.decay.contradicts": "AdaGrad's effective step went from {a0} at step {early} to {a1} ({shrink}× "
                                 "smaller), RMSprop's from {r0} to {r1}: no stronger decay.",
    "adagrad.stall.supports": "At lr {lr} AdaGrad covered {d1} in the first half and only {d2} in the second, "
                              "ending at f = {final} while RMSprop reached {rfinal}: it stalls.",
    "adagrad.stall.contradicts": "At lr {lr} AdaGrad covered {d1} in the first half and {d2} in the second and ended "
                                 "at f = {final} (RMSprop: {rfinal}): it did not stall.",
    "adagrad.tuned.supports": "Even with its own tuned lr ({alr}) AdaGrad ends at f = {afinal} against RMSprop's "
                              "{rfinal} (lr {rlr}).",
    "adagrad.tuned.contradicts": "With its own tuned lr ({alr}) AdaGrad ends at f = {afinal} (RMSprop: {rfinal} at "
                                 "lr {rlr}): with a tuned lr it does not stop early within this budget.",
    # ------------------------------------------------------------------ chapter 8
    "rmsprop.title": "RMSprop's leaky cache",
    "rmsprop.gist": "an exponential average instead of a sum keeps the step size from dying out, and RMSprop "
                    "avoids momentum's overshoot, moving close to the shortest path",
    "rmsprop.setup": (
        "The effective step of chapter 7's runs over time, and RMSprop against momentum on the valley of chapter 1 "
        "(each at its tuned lr, same grid, budget and rule as in chapter 1). Path ratio: path length / distance from "
        "the start to the minimum (1 is the straight line). Overshoot depends on the lr, so the verdict also gives "
        "the largest overshoot among the grid's lrs that reach f < {target}."
    ),
    "rmsprop.fig.step": "Effective step |Δx|/|g_x| per step at the same lr (log scale).",
    "rmsprop.fig.contour": "Momentum and RMSprop on the valley.",
    "rmsprop.table.valley": "Momentum and RMSprop on the valley, tuned lr each.",
    "rmsprop.keeps.supports": "RMSprop's last effective step is {ratio}× its step-{early} value after {steps} steps "
                              "(AdaGrad: {ada_ratio}×): the leaky cache keeps the step size.",
    "rmsprop.keeps.contradicts": "RMSprop's last effective step is {ratio}× its step-{early} value after {steps} steps "
                                 "(AdaGrad: {ada_ratio}×): its step decays too.",
    "rmsprop.overshoot.supports": "On the valley RMSprop at its tuned lr {rlr} overshot by {rms}% against momentum's "
                                  "{mom}% at lr {mlr}, with path ratio {rpath} against {mpath}. Among the grid's lrs "
                                  "that reach f < 1e-3 the overshoot is at most {rmax}% for "
                                  "RMSprop (lr {rmax_lr}) and {mmax}% for momentum (lr {mmax_lr}).",
    "rmsprop.overshoot.mixed": "On the valley RMSprop at its tuned lr {rlr} overshot by {rms}% against momentum's "
                               "{mom}% at lr {mlr} (path ratio {rpath} against {mpath}), but not at every lr: among "
                               "the grid's lrs that reach f < 1e-3 its overshoot goes up to {rmax}% (lr {rmax_lr}) "
                               "against momentum's {mmax}% (lr {mmax_lr}).",
    "rmsprop.overshoot.contradicts": "On the valley RMSprop at its tuned lr {rlr} overshot by {rms}% against "
                                     "momentum's {mom}% at lr {mlr} (path ratio {rpath} against {mpath}): at its tuned "
                                     "lr it does not overshoot less than momentum. Among the grid's lrs that reach "
                                     "f < 1e-3 the overshoot is at most {rmax}% for RMSprop (lr {rmax_lr}) and "
                                     "{mmax}% for momentum (lr {mmax_lr}).",
    # ------------------------------------------------------------------ chapter 9
    "adam.title": "Adam and bias correction",
    "adam.gist": "with the caches starting at zero, Adam's first steps can be large and fail to converge; bias "
                 "correction fixes this; like every method here it cannot follow a rotated valley",
    "adam.setup": (
        "Rosenbrock from {start}, {steps} steps. inertia.Adam with bias_correction=True (default) and False, both "
        "at the corrected run's tuned lr (grid {grid_lo}…{grid_hi}, {grid_n} values), and the uncorrected one also "
        "at its own tuned lr. Without correction the first update is lr·(1-β₁)/√(1-β₂) ≈ {predicted}·lr per "
        "coordinate (β = ({beta1}, {beta2})). Second table: steps to f < {target} on the valley of chapter 1 and on "
        "the same valley rotated by {angle}°, tuned lr each (a run that never gets there counts as the whole "
        "budget, so its slowdown is a lower bound)."
    ),
    "adam.fig.steps": "Largest coordinate update divided by lr, first {early} steps (log scale).",
    "adam.fig.contour": "Both variants on Rosenbrock at the same lr.",
    "adam.table.rotation": "Axis-aligned against rotated valley.",
    "adam.first.supports": "Without bias correction the first update is {unc}× lr (predicted {predicted}) against "
                           "{cor}× with it, and reaches {max_early}× lr within {early} steps.",
    "adam.first.contradicts": "Without bias correction the first update is {unc}× lr against {cor}× with it "
                              "(predicted {predicted}): no larger first steps.",
    "adam.fails.supports": "At lr {lr} the uncorrected run peaks at f = {peak} and ends at {unc}, against {cor} with "
                           "correction: at the same lr it fails to converge (at its own tuned lr {tlr} it ends at "
                           "{tfinal}).",
    "adam.fails.contradicts": "At lr {lr} the uncorrected run ends at {unc} against {cor} with correction (peak "
                              "{peak}): less than the tenfold gap that would mark a failure to converge (own tuned "
                              "lr {tlr}: {tfinal}).",
    "adam.rotation.supports": "Rotating the valley by 45° slows the adaptive methods {slowdown}× (median; Adam from "
                              "{aligned} to {rotated} steps) while momentum changes by {momentum}×: per-coordinate "
                              "scaling cannot rotate, as the notes say.",
    "adam.rotation.contradicts": "Rotating the valley by 45° slows the adaptive methods {slowdown}× (median; Adam "
                                 "from {aligned} to {rotated} steps), momentum {momentum}×: no penalty specific to "
                                 "per-coordinate scaling (at least 2× for the adaptive methods, under 1.5× for "
                                 "momentum).",
    # ------------------------------------------------------------------ chapter 10
    "schedules.title": "Learning-rate decay",
    "schedules.gist": "start with a large lr and lower it later (step, exponential or 1/t decay); the lecture "
                      "recommends not decaying at first and decaying when it is needed",
    "schedules.setup": (
        "A {dim}-dimensional quadratic (condition number {condition}) with Gaussian gradient noise σ = {noise}, SGD "
        "for {steps} steps. The base lr of the constant lr and of the step, exponential and 1/t decays is tuned on "
        "the grid {grid_lo}…{grid_hi} ({grid_n} values) by the mean final loss over {tune_seeds} noise seeds, then "
        "evaluated on {eval_seeds} other seeds; losses are excess losses f - f* averaged over the last {tail_pct}% "
        "of steps and over the {eval_seeds} seeds. The plateau schedule follows the lecture's recipe: it starts "
        "from the constant lr's tuned value, watches the mean loss of each {window}-step window and multiplies the "
        "lr by {factor} when it stops improving."
    ),
    "schedules.fig.loss": "Excess loss per step, first evaluation seed (log scale).",
    "schedules.fig.lr": "The learning rate each schedule used (log scale).",
    "schedules.decay.supports": "Decay helps: {best} ended at {ratio}× the constant lr's loss ({value} against "
                                "{constant}); {beat} of the 3 decay schedules beat the constant lr.",
    "schedules.decay.contradicts": "Decay did not help: the best decay schedule, {best}, ended at {ratio}× the constant "
                                   "lr's loss ({value} against {constant}); {beat} of 3 beat it.",
    "schedules.plateau.supports": "The plateau rule decayed {count} times in the first evaluation run (steps "
                                  "{decays}) and ended at {final} against {constant} for the same lr held constant.",
    "schedules.plateau.contradicts": "The plateau rule decayed {count} times in the first evaluation run (steps "
                                     "{decays}) and ended at {final} against {constant} for the same lr held "
                                     "constant: it did not both decay and beat the constant lr here.",
    # ------------------------------------------------------------------ chapter 11
    "second_order.title": "Newton and L-BFGS",
    "second_order.gist": "second-order methods need no learning rate, but Newton costs a lot of memory and time; "
                         "L-BFGS approximates the Hessian from past gradients and needs the full batch",
    "second_order.setup": (
        "Full-batch problems: Rosenbrock, a {quad_dim}-dimensional quadratic with condition number "
        "{quad_condition}, and L2-regularised softmax regression on {samples} digits ({params} parameters). "
        "Target: f - f* ≤ {gap}·max(1, |f*|). inertia.minimize runs L-BFGS (history {history}, Moré–Thuente line "
        "search) and Newton (exact; Newton-CG on the {params}-parameter problem); GD, momentum and Adam each get "
        "the best lr of {grid_n} values from {grid_lo} to {grid_hi} with {iters} iterations. Then L-BFGS on "
        "mini-batches of {minibatch} against the full batch."
    ),
    "second_order.fig.gap": "f - f* against function evaluations (log-log).",
    "second_order.fig.contour": "Paths on Rosenbrock.",
    "second_order.table.minibatch": "Softmax regression: full batch against mini-batches of {batch}.",
    "second.lbfgs.supports": "L-BFGS reached the target on all {count} problems with {low}× to {high}× fewer "
                             "function evaluations than the best tuned first-order method spent (where that method "
                             "missed the target within its budget the ratio is a lower bound), with no lr to tune.",
    "second.lbfgs.contradicts": "L-BFGS did not reach the target with fewer function evaluations than the tuned "
                                "first-order methods on every problem: their evaluations were {low}× to {high}× "
                                "those of L-BFGS on the {count} problems.",
    "second.newton.supports": "Newton needed fewer iterations than L-BFGS on every problem ({newton}, against "
                              "L-BFGS's {lbfgs}), each paid with Hessian-vector products ({hvps} in total): few "
                              "steps, expensive ones.",
    "second.newton.contradicts": "Newton did not need fewer iterations than L-BFGS everywhere ({newton} against "
                                 "{lbfgs}; Hessian-vector products {hvps}).",
    "second.minibatch.supports": "On mini-batches of {batch}, L-BFGS ended after {steps} steps at f - f* = {mini} against "
                                 "{full} on the full batch (mini-batch Adam: {adam}): it needs the full batch.",
    "second.minibatch.contradicts": "On mini-batches of {batch}, L-BFGS ended after {steps} steps at f - f* = {mini} "
                                    "against {full} on the full batch (mini-batch Adam: {adam}): mini-batches did "
                                    "not break it here.",
    # ------------------------------------------------------------------ chapter 12
    "digits.title": "Training a real network on digits",
    "digits.gist": "plain SGD is slow; momentum and the adaptive methods fix it, and Adam is the well-known default",
    "digits.setup": (
        "scikit-learn's {side}×{side} digits (1437 training and 360 test images), an MLP "
        "{pixels}-{hidden}-{hidden}-{classes} with ReLU, mini-batches of {batch}. Each optimizer's lr is the best "
        "of {grid_n} values from {grid_lo} to {grid_hi} by validation accuracy after {tune_epochs} epochs "
        "({validation_pct}% of the training set held out); the winner is retrained on the whole training set for "
        "{epochs} epochs with the same initialisation and batch order. Times are per run on this machine."
    ),
    "digits.fig.loss": "Training loss per epoch and against wall time.",
    "digits.fig.accuracy": "Test accuracy.",
    "digits.sgd.supports": "After {epochs} epochs plain SGD's training loss is {sgd}, above momentum's {momentum} and "
                           "Adam's {adam}: it is the slowest of the three.",
    "digits.sgd.contradicts": "After {epochs} epochs plain SGD's training loss is {sgd} against momentum's "
                              "{momentum} and Adam's {adam}: with a tuned lr it is not the slowest.",
    "digits.adam.best": "Adam's test accuracy is {adam_acc}%, the highest of the three: a sound default.",
    "digits.adam.supports": "Adam's test accuracy is {adam_acc}%, within {gap} points of the best ({best}, "
                            "{best_acc}%): a sound default.",
    "digits.adam.contradicts": "Adam's test accuracy is {adam_acc}%, {gap} points below the best ({best}, "
                               "{best_acc}%): tuned, the default is not the winner here.",
    **BEYOND_EN,
}
