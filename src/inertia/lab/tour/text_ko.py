"""Korean strings of the tour (keys mirror :mod:`inertia.lab.tour.text_en`)."""

from __future__ import annotations

from inertia.lab.tour.text_beyond import BEYOND_KO

_FAIR = "공정성: 여기서 비교하는 모든 optimizer는 같은 로그 간격 격자에서 고른 각자의 최적 learning rate와 같은 step 예산을 받는다."

KO: dict[str, str] = {
    "page.title": "inertia 투어: 최적화 노트를 직접 측정하다",
    "page.intro": (
        "이 보고서는 inertia가 따르는 CS231n 식 최적화 노트를 장마다 따라간다. 각 장은 노트의 주장을 인용하고, inertia의 "
        "optimizer로 작은 실험을 돌려 측정값을 보여 준 뒤, 데이터가 그 주장을 뒷받침하는지 반박하는지 판정한다. 모든 판정 "
        "문장은 그 장의 측정값에서 계산된다.\n\n"
        "optimizer를 비교할 때는 각자 같은 로그 간격 격자에서 고른 learning rate와 같은 예산을 쓴다. 같은 seed(seed {seed})"
        "에서는 결과가 결정적이며, 실행 시간만 달라진다."
    ),
    "page.footer": "생성 시간 {seconds}초.",
    "page.playground": "놀이터 열기: 학습률을 움직이며 각 옵티마이저를 지켜보세요 (오프라인, 파일 하나)",
    "page.tryit": "놀이터에서 직접 해 보기",
    "outcome.supports": "노트와 일치",
    "outcome.contradicts": "노트와 반대",
    "outcome.mixed": "노트와 부분적으로 일치",
    "notes": "노트: «{quote}»",
    "progress.chapter": "{number}/{total}장: {title}",
    "progress.render": "보고서 작성 중",
    # ------------------------------------------------------------------ table headers
    "col.run": "실행", "col.lr": "lr", "col.steep_flips": "y(가파른 축) 부호 변화 수",
    "col.shallow_flips": "x(완만한 축) 부호 변화 수", "col.path_ratio": "경로 길이 / 직선 거리",
    "col.final_loss": "최종 loss", "col.batch": "batch 크기", "col.grad_noise": "gradient noise E|g_B - g|²",
    "col.final_excess": "최종 초과 loss (평균)", "col.loss_std": "loss 표준편차 (마지막 {tail_pct}%)",
    "col.steep_share": "가파른 축이 차지하는 초과 loss 비율 (%)", "col.surface": "곡면",
    "col.missed_pct": "전역 최솟값에 도달하지 못한 시작점 (%)", "col.mean_final": "평균 최종 loss",
    "col.dim": "차원", "col.minimum_pct": "최솟점인 무작위 Hessian (%)",
    "col.stall_steps": "탈출 전 |∇f| < {stall_gradient} 인 step 수", "col.escape_step": "탈출 step (f < {escape_loss})",
    "col.saddle_pct": "saddle인 무작위 Hessian (%)", "col.overshoot_pct": "overshoot (시작 거리 대비 %)",
    "col.steps_to_target": "f < {target} 까지 step 수", "col.momentum_overshoot": "momentum overshoot (%)",
    "col.nesterov_overshoot": "Nesterov overshoot (%)", "col.ratio": "Nesterov / momentum",
    "col.step_early": "{early}번째 step의 유효 step 크기", "col.step_last": "마지막 step의 유효 step 크기",
    "col.first_half": "전반부 이동 거리", "col.second_half": "후반부 이동 거리",
    "col.tuned_lr": "튜닝된 lr", "col.step_ratio": "마지막 / {early}번째 유효 step",
    "col.first_step": "첫 update / lr", "col.max_step_early": "최대 update / lr (처음 {early} step)",
    "col.peak_loss_early": "최대 loss (처음 {early} step)", "col.steps_aligned": "f < {target} 까지 step (축 정렬)",
    "col.steps_rotated": "f < {target} 까지 step ({angle}° 회전)", "col.slowdown": "느려진 배수",
    "col.schedule": "schedule", "col.seed_std": "평가 seed {eval_seeds}개의 표준편차", "col.vs_constant": "constant 대비",
    "col.plateau_decays": "plateau가 decay한 step (첫 seed)", "col.problem": "문제", "col.method": "방법",
    "col.iters_to_target": "목표까지 반복 수", "col.fevals": "함수 평가 수",
    "col.hvps": "Hessian-vector 곱 수", "col.final_gap": "최종 f - f*", "col.steps": "step 수",
    "col.optimizer": "optimizer", "col.val_acc": "검증 정확도 (%)", "col.test_acc": "테스트 정확도 (%)",
    "col.test_loss": "테스트 loss", "col.train_loss": "최종 학습 loss", "col.seconds": "실행당 초",
    # ------------------------------------------------------------------ chapter 1
    "zigzag.title": "ill-conditioned 골짜기에서 SGD의 zig-zag",
    "zigzag.gist": "",
    "zigzag.setup": (
        "곡면: 골짜기 f = (x²/{kappa} + y²)/2 (condition number {kappa}), 시작점 {start}, {steps} step. full-batch GD는 "
        "튜닝된 lr({grid_lo}~{grid_hi}의 {grid_n}개 값 중 최종 loss가 가장 낮은 값; {converged}보다 작은 최종 loss는 "
        "수렴한 것으로 보아 동률로 치고, 동률이면 더 작은 lr을 고른다)로, GD를 조심스러운 lr {cautious_lr}(가파른 축 "
        "곡률의 역수보다 작음)로, 그리고 mini-batch를 흉내 낸 Gaussian gradient noise(σ = {noise})를 더한 SGD를 각자의 "
        "튜닝된 lr로 돌린다. 가파른 좌표 y의 부호가 바뀔 때를 zig-zag로 세고, 전체 step의 {flip_pct}% 이상에서 일어나면 "
        "zig-zag라고 판정한다."
    ),
    "zigzag.fig.contour": "골짜기 위의 경로 (별은 최솟값).",
    "zigzag.fig.steep": "처음 {steps} step 동안의 가파른 좌표 y.",
    "zigzag.sgd.supports": ("SGD의 가파른 좌표는 {steps} step 중 {flips}번 부호가 바뀌었고 완만한 좌표는 {shallow}번 바뀌었으며, "
                            "경로는 시작점에서 끝점까지의 직선보다 {ratio}배 길었다: 골짜기를 가로질러 zig-zag한다."),
    "zigzag.sgd.contradicts": ("SGD의 가파른 좌표는 {steps} step 중 {flips}번만 부호가 바뀌었다 (경로는 직선의 {ratio}배, x 부호 "
                               "변화 {shallow}번): 여기서는 zig-zag가 없다."),
    "zigzag.gd.contradicts": (
        "튜닝된 lr {lr}의 full-batch GD도 zig-zag한다 ({steps} step 중 부호 변화 {flips}번). gradient noise가 전혀 없으므로 "
        "zig-zag는 mini-batch noise만의 결과가 아니다. 더 작은 lr {cautious_lr}에서 GD의 가파른 좌표는 부호를 "
        "{cautious_flips}번 바꾸었고 최종 f = {cautious_final}이었다 (튜닝된 lr: {gd_final})."),
    "zigzag.gd.supports": (
        "튜닝된 lr {lr}의 full-batch GD는 {steps} step 중 가파른 좌표의 부호가 {flips}번만 바뀌었다: noise가 없으면 가파른 "
        "축을 먼저 정리하고 완만한 축을 따라 움직인다 (lr {cautious_lr}: 부호 변화 {cautious_flips}번, f = {cautious_final}; "
        "튜닝: f = {gd_final})."),
    # ------------------------------------------------------------------ chapter 2
    "minibatch.title": "mini-batch noise",
    "minibatch.gist": "",
    "minibatch.setup": (
        "문제: 크기 {scale_small}와 {scale_large}인 두 feature, {samples}개 표본의 최소제곱 (condition ~{condition}의 "
        "골짜기). SGD를 batch 크기 {batch_lo}부터 {batch_hi}(전체)까지 같은 lr {lr}로 {steps} step 돌리며 실제 "
        "mini-batch를 뽑는다. noise만 바뀌도록 lr은 고정한다. gradient noise E|g_B - g|²는 최솟값에서 {draws}개 "
        "batch로 측정했고, loss는 마지막 {tail_pct}% step의 초과 loss f - f* 평균이다."
    ),
    "minibatch.fig.contour": "batch 크기 {small}와 전체 batch의 경로.",
    "minibatch.fig.loss": "batch 크기별 step당 초과 loss (로그 눈금).",
    "minibatch.noise.supports": ("batch 크기 {small}의 SGD는 전체 batch({large})보다 {ratio}배 높은 loss로 끝났고, 최종 loss는 "
                                 "gradient noise와 함께 커진다 (순위 상관 {rho})."),
    "minibatch.noise.contradicts": ("최종 loss가 gradient noise를 따르지 않는다: batch {small}은 전체 batch({large})의 {ratio}배로 "
                                    "끝났고 순위 상관은 {rho}이다."),
    "minibatch.steep.supports": ("batch 크기 {small}에서 남은 초과 loss의 {share}%가 가파른 축에 있다: noise는 주로 민감한 "
                                 "방향을 흔든다."),
    "minibatch.steep.contradicts": ("batch 크기 {small}에서 남은 초과 loss 중 가파른 축의 몫은 {share}%뿐이다: noise가 민감한 "
                                    "방향을 주로 흔들지는 않는다."),
    # ------------------------------------------------------------------ chapter 3
    "minima.title": "local minima",
    "minima.gist": "",
    "minima.setup": (
        "local minimum으로 덮인 그릇 모양의 Rastrigin 곡면에서 [-{box}, {box}]²의 무작위 시작점 {starts}개, {steps} "
        "step: GD, momentum {mu}, noisy SGD(σ = {noise}), Adam을 각각 {grid_lo}~{grid_hi} 격자({grid_n}개 값) 중 평균 "
        "최종 loss가 가장 낮은 lr로 돌린다. 전역 최솟값에서 {radius}보다 멀리 끝나면 '놓쳤다'고 센다. 좁고 깊은 "
        "최솟값 옆에 넓고 얕은 최솟값이 있는 곡면에서도 GD와 momentum을 똑같이 돌린다. 마지막으로 고차원의 장난감 "
        "모형: 차원마다 무작위 대칭 Gaussian 행렬 {samples}개 중 고윳값이 모두 양수인 것(그런 Hessian의 임계점은 "
        "최솟점)의 비율."
    ),
    "minima.fig.contour": "Rastrigin 곡면에서 GD와 momentum의 시작점 {starts}개 중 {shown}개.",
    "minima.table.census": "무작위 Hessian (GOE 모형): 임계점이 최솟점일 확률.",
    "minima.trapped.supports": "GD는 시작점 {starts}개 중 {missed}%에서 전역 최솟값이 아닌 곳에 멈췄다: 2차원에서는 local "
                               "minimum에 갇힌다.",
    "minima.trapped.contradicts": "GD는 시작점 {starts}개 중 {missed}%에서만 전역 최솟값을 놓쳤다: 여기서는 local minimum에 "
                                  "갇히지 않았다.",
    "minima.momentum.supports": "momentum은 시작점의 {momentum}%에서, GD는 {gd}%에서 놓쳤다 (noisy SGD {sgd}%, Adam {adam}%): "
                                "momentum이 local minimum을 더 자주 빠져나온다.",
    "minima.momentum.contradicts": "momentum은 시작점의 {momentum}%에서, GD는 {gd}%에서 놓쳤다 (noisy SGD {sgd}%, Adam "
                                   "{adam}%): lr을 튜닝하면 momentum이 Rastrigin의 minimum을 뚜렷이 (10%p 이상) 더 자주 "
                                   "빠져나오지는 않는다.",
    "minima.narrow.supports": "좁은/넓은 최솟값 곡면에서 momentum은 시작점의 {momentum}%, GD는 {gd}%에서 좁은 최솟값에 "
                              "도착했다: momentum이 좁은 최솟값을 더 자주 지나친다.",
    "minima.narrow.contradicts": "좁은/넓은 최솟값 곡면에서 momentum은 시작점의 {momentum}%, GD는 {gd}%에서 좁은 최솟값에 "
                                 "도착했다: momentum이 좁은 최솟값을 더 자주 건너뛰지는 않는다.",
    "minima.highdim.supports": "무작위 Hessian 모형에서 임계점 중 최솟점의 비율은 {low_dim}차원에서 {low}%, {high_dim}차원에서 "
                               "{high}%이다: 차원이 커지면 최솟점은 드물어진다.",
    "minima.highdim.contradicts": "무작위 Hessian 모형에서 임계점 중 최솟점의 비율은 {low_dim}차원에서 {low}%, {high_dim}차원"
                                  "에서 {high}%이다: 차원이 커지면서 흔하다가 드물어지는 (1% 이하) 변화가 없다.",
    # ------------------------------------------------------------------ chapter 4
    "saddle.title": "saddle point",
    "saddle.gist": "",
    "saddle.setup": (
        "곡면: f = x² - y² + y⁴/4, 원점이 saddle, 최솟값 -1은 (0, ±√2). saddle로 끌려가는 직선 바로 옆인 {start}에서 "
        "시작해 {steps} step. GD, gradient noise σ = {noise}의 SGD, momentum {mu}, Adam을 각각 {grid_lo}~{grid_hi} "
        "격자({grid_n}개 값) 중 실행 전체의 평균 loss가 가장 낮은 lr로 돌린다. f < {escape_loss}에 도달하면 탈출로 "
        "본다. 두 번째 표는 무작위 대칭 Gaussian Hessian 중 saddle의 비율이다."
    ),
    "saddle.fig.contour": "saddle 근처의 경로.",
    "saddle.fig.loss": "step당 f - (-1) (로그 눈금): 평평한 구간이 saddle에서 보낸 시간이다.",
    "saddle.table.census": "무작위 Hessian (GOE 모형): 임계점이 saddle일 확률.",
    "saddle.stall.supports": "GD는 탈출 전 {escape} step 중 {stall} step({share}%)을 |∇f| < 0.1 에서 보냈다: saddle 근처에서 "
                             "거의 움직이지 못한다.",
    "saddle.stall.contradicts": "GD는 탈출 전 {escape} step 중 {stall} step({share}%, 절반 미만)만 |∇f| < 0.1 에서 "
                                "보냈다: saddle이 대부분의 시간을 붙잡지는 못했다.",
    "saddle.momentum.supports": "momentum은 {momentum} step에, GD는 {gd} step에 탈출했다 ({speedup}배 빠름). 아주 작은 y "
                                "gradient를 키워 주는 Adam은 {adam} step에 탈출했다.",
    "saddle.momentum.contradicts": "momentum은 {momentum} step에, GD는 {gd} step에 탈출했다 ({speedup}배): lr을 튜닝하면 이 "
                                   "saddle에서 뚜렷이 (1.5배) 더 빠르지 않다. 아주 작은 y gradient를 키워 주는 Adam은 {adam} step에 "
                                   "탈출했다.",
    "saddle.noise.contradicts": "노트의 SGD는 noise가 있는 mini-batch gradient로 움직이는데, 여기서는 그 noise가 SGD를 "
                                "saddle에서 풀어 준다: noisy SGD는 {sgd} step, 정확한 gradient의 GD는 {gd} step에 "
                                "탈출했다 ({speedup}배 빠름). gradient가 사라지는 곳에 오래 붙잡히는 것은 noisy SGD가 "
                                "아니라 정확한 GD이다.",
    "saddle.noise.supports": "gradient noise가 탈출을 뚜렷이 (1.5배) 앞당기지 않았다: noisy SGD는 {sgd} step, 정확한 "
                             "gradient의 GD는 {gd} step에 탈출했다 ({speedup}배).",
    "saddle.highdim.supports": "{dim}차원에서 무작위 Hessian의 {share}%가 부정부호이다: 노트 말대로 거의 모든 임계점이 saddle이다.",
    "saddle.highdim.contradicts": "{dim}차원에서 무작위 Hessian의 {share}%만 부정부호이다.",
    # ------------------------------------------------------------------ chapter 5
    "momentum.title": "momentum과 overshooting",
    "momentum.gist": "",
    "momentum.setup": (
        "1장의 골짜기(condition number {kappa}), {steps} step, GD와 momentum {mu}를 각자의 튜닝된 lr(같은 격자)로 "
        "돌린다. overshoot: 시작점-최솟값 직선을 따라 경로가 최솟값을 지나간 거리를 시작 거리 대비 백분율로 잰 것 "
        "(가파른 축만 가로지르는 것은 1장의 zig-zag이며 y의 부호 변화로 따로 센다). inertia.SGD는 torch의 형태 "
        "b ← μb + g, x ← x - lr·b를 쓴다. 여기처럼 lr이 일정하면 노트의 velocity 형태 v ← μv - lr·g, x ← x + v "
        "(v = -lr·b)와 정확히 같은 step을 밟으며, 두 형태는 실행 도중 lr이 바뀔 때만 달라진다. " + _FAIR
    ),
    "momentum.fig.contour": "골짜기 위의 GD와 momentum.",
    "momentum.fig.approach": "시작점-최솟값 직선 위의 위치; 0 아래는 최솟값을 지나친 것이다.",
    "momentum.speed.supports": "momentum은 {momentum} step에, GD는 {gd} step에 f < {target}에 도달했다. 가파른 좌표의 "
                               "부호 변화는 momentum {mflips}번, GD {gflips}번이다.",
    "momentum.speed.contradicts": "momentum은 {momentum} step에, GD는 {gd} step에 f < {target}에 도달했다: 여기서는 더 빠르지 "
                                  "않다 (가파른 축 부호 변화 {mflips}번 대 {gflips}번).",
    "momentum.overshoot.supports": "momentum은 시작 거리의 {momentum}%만큼 최솟값을 지나쳤고, GD는 {gd}%였다.",
    "momentum.overshoot.contradicts": "momentum은 시작 거리의 {momentum}%, GD는 {gd}%만큼 지나쳤다: momentum의 "
                                      "overshoot가 뚜렷하면서 (5% 이상) GD보다 크지는 않다.",
    # ------------------------------------------------------------------ chapter 6
    "nesterov.title": "Nesterov의 더 작은 overshoot",
    "nesterov.gist": "",
    "nesterov.setup": (
        "같은 골짜기, 같은 예산. momentum과 Nesterov(둘 다 μ = {mu})를 같은 learning rate({sweep_lo}~{sweep_hi}의 "
        "{sweep_n}개 값; 둘 다 안정적이고 momentum의 overshoot가 {min_overshoot_pct}% 이상인 쌍만 셈)에서 비교하고, "
        "각자의 튜닝된 lr에서도 비교한다. inertia의 Nesterov는 torch의 b ← μb + g, x ← x - lr·(g + μb)이다. 이는 "
        "노트의 미리 가 보는 update(velocity만큼 간 곳에서 gradient를 구함)를 노트가 말한 대로 한 지점에서 "
        "계산하도록 바꾼 식이므로, 그림의 점은 미리 가 본 지점 x + μv이다."
    ),
    "nesterov.fig.contour": "같은 lr의 momentum과 Nesterov.",
    "nesterov.fig.gif": "같은 두 실행의 애니메이션.",
    "nesterov.fig.sweep": "learning rate에 따른 overshoot.",
    "nesterov.table.sweep": "같은 learning rate에서의 overshoot.",
    "nesterov.less.supports": "같은 learning rate에서 Nesterov는 momentum보다 {less}% 덜 overshoot한다 ({matched}개 learning "
                              "rate의 중앙값 비율 {ratio}, 범위 {low}~{high}).",
    "nesterov.less.mixed": "같은 learning rate에서 Nesterov의 overshoot는 momentum과 비슷하다 ({matched}개 learning rate의 "
                           "중앙값 비율 {ratio}, 범위 {low}~{high}).",
    "nesterov.less.contradicts": "같은 learning rate에서 Nesterov가 momentum보다 더 overshoot한다 ({matched}개 learning rate의 "
                                 "중앙값 비율 {ratio}, 범위 {low}~{high}).",
    "nesterov.less.none": "측정할 만한 overshoot가 있는 learning rate 쌍이 없어({matched}쌍) 주장을 확인할 수 없었다.",
    "nesterov.still.supports": "overshoot는 남아 있다: 튜닝된 lr {nlr}의 Nesterov도 {nesterov}% 지나치며 (lr {mlr}의 "
                               "momentum: {momentum}%), f < 1e-3에 {nhit} step에 도달한다 (momentum: {mhit}).",
    "nesterov.still.contradicts": "튜닝된 lr {nlr}의 Nesterov는 {nesterov}%만 지나친다 (lr {mlr}의 momentum: {momentum}%): "
                                  "overshoot가 사라졌다. f < 1e-3에는 {nhit} step에 도달한다 (momentum: {mhit}).",
    # ------------------------------------------------------------------ chapter 7
    "adagrad.title": "일찍 멈추는 AdaGrad",
    "adagrad.gist": "",
    "adagrad.setup": (
        "곡면: 바닥의 기울기가 일정한 긴 골짜기 f = √(1 + x²) - 1 + 5y², 시작점 {start}, {steps} step. AdaGrad와 "
        "RMSprop을 먼저 같은 lr(RMSprop의 튜닝된 값)로, 그다음 {grid_lo}~{grid_hi} 격자({grid_n}개 값)에서 각자 "
        "튜닝한 lr로 돌린다. x 방향 유효 step 크기는 |Δx|/|g_x|이며, 두 규칙 모두 lr/(√cache + ε)와 같다."
    ),
    "adagrad.fig.contour": "같은 lr의 AdaGrad와 RMSprop.",
    "adagrad.fig.x": "같은 lr에서 두 규칙의 step에 따른 x (바닥은 x 방향으로 뻗어 있다).",
    "adagrad.table.tuned": "각자의 튜닝된 lr에서의 결과.",
    "adagrad.decay.supports": "AdaGrad의 유효 step은 {early}번째 step의 {a0}에서 마지막 step의 {a1}까지 ({shrink}배) "
                              "줄었고, 같은 기간 RMSprop의 유효 step은 {r0}에서 {r1}까지 바뀌었다.",
    "adagrad.decay.contradicts": "AdaGrad의 유효 step은 {early}번째 step의 {a0}에서 마지막 step의 {a1}까지 ({shrink}배) "
                                 "줄었고 RMSprop은 {r0}에서 {r1}까지 바뀌었다: 더 크게 줄지 않았다.",
    "adagrad.stall.supports": "lr {lr}에서 AdaGrad는 전반부에 {d1}, 후반부에는 {d2}만 이동하고 f = {final}에서 끝났지만 "
                              "RMSprop은 {rfinal}에 도달했다: AdaGrad는 멈춘다.",
    "adagrad.stall.contradicts": "lr {lr}에서 AdaGrad는 전반부에 {d1}, 후반부에 {d2} 이동하고 f = {final}에서 끝났다 (RMSprop: "
                                 "{rfinal}): 멈추지 않았다.",
    "adagrad.tuned.supports": "자신의 튜닝된 lr({alr})에서도 AdaGrad의 최종 loss(f = {afinal})는 RMSprop의 {rfinal}(lr {rlr})"
                              "보다 높다.",
    "adagrad.tuned.contradicts": "자신의 튜닝된 lr({alr})에서 AdaGrad의 최종 loss는 f = {afinal}이다 (RMSprop: lr {rlr}에서 "
                                 "{rfinal}): lr을 튜닝하면 이 예산 안에서 일찍 멈추지 않는다.",
    # ------------------------------------------------------------------ chapter 8
    "rmsprop.title": "RMSprop의 새는 cache",
    "rmsprop.gist": "",
    "rmsprop.setup": (
        "7장 실행의 시간에 따른 유효 step, 그리고 1장 골짜기에서 RMSprop과 momentum (각자 튜닝된 lr, 1장과 같은 격자, "
        "예산, 규칙). 경로 비율: 경로 길이 / 시작점에서 최솟값까지의 거리 (1이면 직선). overshoot는 lr에 따라 "
        "달라지므로, 판정에는 격자의 lr 중 f < {target}에 도달한 것들의 최대 overshoot도 함께 적는다."
    ),
    "rmsprop.fig.step": "같은 lr에서 step별 유효 step |Δx|/|g_x| (로그 눈금).",
    "rmsprop.fig.contour": "골짜기 위의 momentum과 RMSprop.",
    "rmsprop.table.valley": "골짜기에서 각자 튜닝된 lr의 momentum과 RMSprop.",
    "rmsprop.keeps.supports": "{steps} step 후 RMSprop의 마지막 유효 step은 {early}번째 step 값의 {ratio}배이다 (AdaGrad: "
                              "{ada_ratio}배): 새는 cache가 step 크기를 유지한다.",
    "rmsprop.keeps.contradicts": "{steps} step 후 RMSprop의 마지막 유효 step은 {early}번째 step 값의 {ratio}배이다 (AdaGrad: "
                                 "{ada_ratio}배): RMSprop의 step도 줄어든다.",
    "rmsprop.overshoot.supports": "골짜기에서 튜닝된 lr {rlr}의 RMSprop은 {rms}%, lr {mlr}의 momentum은 {mom}% "
                                  "overshoot했고 경로 비율은 {rpath} 대 {mpath}이다. 격자의 lr 중 f < 1e-3에 "
                                  "도달한 것들에서 최대 overshoot는 RMSprop {rmax}% (lr {rmax_lr}), momentum "
                                  "{mmax}% (lr {mmax_lr})이다.",
    "rmsprop.overshoot.mixed": "골짜기에서 튜닝된 lr {rlr}의 RMSprop은 {rms}%, lr {mlr}의 momentum은 {mom}% overshoot했지만 "
                               "(경로 비율 {rpath} 대 {mpath}) 모든 lr에서 그렇지는 않다: 격자의 lr 중 f < 1e-3에 도달한 "
                               "것들에서 RMSprop의 overshoot는 최대 {rmax}% (lr {rmax_lr})로, momentum의 {mmax}% (lr "
                               "{mmax_lr})보다 크다.",
    "rmsprop.overshoot.contradicts": "골짜기에서 튜닝된 lr {rlr}의 RMSprop은 {rms}%, lr {mlr}의 momentum은 {mom}% "
                                     "overshoot했다 (경로 비율 {rpath} 대 {mpath}): 튜닝된 lr에서 RMSprop이 momentum보다 덜 "
                                     "overshoot하지는 않는다. 격자의 lr 중 f < 1e-3에 도달한 것들에서 최대 overshoot는 "
                                     "RMSprop {rmax}% (lr {rmax_lr}), momentum {mmax}% (lr {mmax_lr})이다.",
    # ------------------------------------------------------------------ chapter 9
    "adam.title": "Adam과 bias correction",
    "adam.gist": "",
    "adam.setup": (
        "Rosenbrock, 시작점 {start}, {steps} step. inertia.Adam의 bias_correction=True(기본값)와 False를 둘 다 보정한 "
        "실행의 튜닝된 lr({grid_lo}~{grid_hi} 격자, {grid_n}개 값)로 돌리고, 보정하지 않은 것은 자신의 튜닝된 lr로도 "
        "돌린다. 보정이 없으면 첫 update는 좌표마다 lr·(1-β₁)/√(1-β₂) ≈ {predicted}·lr이다 (β = ({beta1}, {beta2})). "
        "두 번째 표: 1장의 골짜기와 그것을 {angle}° 회전한 골짜기에서 f < {target}까지의 step 수, 각자 튜닝된 lr "
        "(끝내 도달하지 못하면 전체 예산으로 세므로 느려진 배수는 하한이다)."
    ),
    "adam.fig.steps": "처음 {early} step 동안 가장 큰 좌표 update를 lr로 나눈 값 (로그 눈금).",
    "adam.fig.contour": "같은 lr에서 Rosenbrock 위의 두 변형.",
    "adam.table.rotation": "축 정렬 골짜기와 회전한 골짜기.",
    "adam.first.supports": "bias correction이 없으면 첫 update는 lr의 {unc}배(예측값 {predicted})이고 보정하면 {cor}배이며, "
                           "{early} step 안에 lr의 {max_early}배까지 커진다.",
    "adam.first.contradicts": "bias correction이 없을 때 첫 update는 lr의 {unc}배, 보정하면 {cor}배이다 (예측값 {predicted}): "
                              "첫 step이 더 크지 않다.",
    "adam.fails.supports": "lr {lr}에서 보정하지 않은 실행은 f = {peak}까지 치솟았다가 {unc}에서 끝났고, 보정한 실행은 "
                           "{cor}이다: 같은 lr에서 수렴하지 못한다 (자신의 튜닝된 lr {tlr}에서는 {tfinal}).",
    "adam.fails.contradicts": "lr {lr}에서 보정하지 않은 실행은 {unc}, 보정한 실행은 {cor}에서 끝났다 (최대 {peak}): 수렴 실패로 볼 "
                              "만한 10배 차이는 아니다 (자신의 튜닝된 lr {tlr}: {tfinal}).",
    "adam.rotation.supports": "골짜기를 45° 회전하면 적응형 방법은 {slowdown}배 느려지고 (중앙값; Adam은 {aligned}에서 "
                              "{rotated} step으로) momentum은 {momentum}배로 변한다: 노트 말대로 좌표별 scaling은 회전을 "
                              "따라가지 못한다.",
    "adam.rotation.contradicts": "골짜기를 45° 회전하면 적응형 방법은 {slowdown}배 (중앙값; Adam은 {aligned}에서 {rotated} "
                                 "step으로), momentum은 {momentum}배 느려진다: 좌표별 scaling에만 "
                                 "해당하는 불이익이 없다 (적응형 방법 2배 이상, momentum 1.5배 미만).",
    # ------------------------------------------------------------------ chapter 10
    "schedules.title": "learning rate decay",
    "schedules.gist": "",
    "schedules.setup": (
        "Gaussian gradient noise σ = {noise}가 있는 {dim}차원 이차함수(condition number {condition})에서 SGD {steps} "
        "step. constant lr과 step, exponential, 1/t decay의 기본 lr은 {grid_lo}~{grid_hi} 격자({grid_n}개 값)에서 "
        "noise seed {tune_seeds}개의 평균 최종 loss로 튜닝한 뒤, 다른 seed {eval_seeds}개로 평가한다. loss는 마지막 "
        "{tail_pct}% step과 {eval_seeds}개 seed에 걸친 초과 loss f - f*의 평균이다. plateau schedule은 강의의 권고를 "
        "따른다: constant lr의 튜닝된 값에서 시작해 {window} step 구간마다 평균 loss를 보고, 개선이 멈추면 lr에 "
        "{factor}을 곱한다."
    ),
    "schedules.fig.loss": "step별 초과 loss, 첫 평가 seed (로그 눈금).",
    "schedules.fig.lr": "각 schedule이 쓴 learning rate (로그 눈금).",
    "schedules.decay.supports": "decay가 도움이 된다: {best}는 constant lr loss의 {ratio}배로 끝났고 ({value} 대 {constant}), "
                                "decay schedule 3개 중 {beat}개가 constant lr보다 낫다.",
    "schedules.decay.contradicts": "decay가 도움이 되지 않았다: 가장 좋은 decay schedule {best}도 constant lr loss의 {ratio}배로 "
                                   "끝났다 ({value} 대 {constant}); 3개 중 {beat}개가 더 낫다.",
    "schedules.plateau.supports": "plateau 규칙은 첫 평가 실행에서 {count}번 decay했고 (step {decays}), 같은 lr을 고정한 "
                                  "실행의 {constant}에 비해 {final}에서 끝났다.",
    "schedules.plateau.contradicts": "plateau 규칙은 첫 평가 실행에서 {count}번 decay했고 (step {decays}) {final}에서 끝났다 "
                                     "(같은 lr을 고정한 실행: {constant}): 여기서는 decay하면서 constant lr을 이기지는 "
                                     "못했다.",
    # ------------------------------------------------------------------ chapter 11
    "second_order.title": "Newton과 L-BFGS",
    "second_order.gist": "",
    "second_order.setup": (
        "full-batch 문제: Rosenbrock, condition number {quad_condition}인 {quad_dim}차원 이차함수, digits {samples}개에 "
        "대한 L2 정규화 softmax 회귀({params}개 parameter). 목표: f - f* ≤ {gap}·max(1, |f*|). inertia.minimize로 "
        "L-BFGS(history {history}, Moré–Thuente line search)와 Newton(exact; {params} parameter 문제에서는 "
        "Newton-CG)을 돌리고, GD, momentum, Adam은 {grid_lo}~{grid_hi}의 {grid_n}개 값 중 최적 lr로 {iters}번 "
        "반복한다. 이어서 mini-batch {minibatch}의 L-BFGS를 전체 batch와 비교한다."
    ),
    "second_order.fig.gap": "함수 평가 수에 따른 f - f* (로그-로그).",
    "second_order.fig.contour": "Rosenbrock 위의 경로.",
    "second_order.table.minibatch": "softmax 회귀: 전체 batch 대 mini-batch {batch}.",
    "second.lbfgs.supports": "L-BFGS는 {count}개 문제 모두에서 목표에 도달했고, 가장 좋은 튜닝된 1차 방법이 쓴 것보다 함수 "
                             "평가를 {low}~{high}배 적게 썼다 (1차 방법이 예산 안에 목표에 못 미친 경우 이 비율은 하한이다). "
                             "튜닝할 lr도 없다.",
    "second.lbfgs.contradicts": "L-BFGS가 모든 문제에서 튜닝된 1차 방법보다 적은 함수 평가로 목표에 도달하지는 못했다: {count}개 문제에서 1차 방법의 평가 "
                                "수는 L-BFGS의 {low}~{high}배였다.",
    "second.newton.supports": "Newton은 모든 문제에서 L-BFGS보다 적은 반복({newton}, L-BFGS는 {lbfgs})으로 끝났지만 그 대가로 Hessian-vector 곱을 "
                              "썼다 (총 {hvps}): step은 적고 각 step은 비싸다.",
    "second.newton.contradicts": "Newton이 모든 곳에서 L-BFGS보다 적게 반복하지는 않았다 ({newton} 대 {lbfgs}; Hessian-vector "
                                 "곱 {hvps}).",
    "second.minibatch.supports": "mini-batch {batch}에서 L-BFGS는 {steps} step 후 f - f* = {mini}에서 끝나, 전체 batch의 {full}보다 "
                                 "훨씬 나빴다 (mini-batch Adam: {adam}): 전체 batch가 필요하다.",
    "second.minibatch.contradicts": "mini-batch {batch}에서 L-BFGS는 {steps} step 후 f - f* = {mini}, 전체 batch는 {full}이다 "
                                    "(mini-batch Adam: {adam}): 여기서는 mini-batch가 L-BFGS를 망가뜨리지 않았다.",
    # ------------------------------------------------------------------ chapter 12
    "digits.title": "digits로 실제 신경망 학습",
    "digits.gist": "",
    "digits.setup": (
        "scikit-learn의 {side}×{side} digits (학습 1437장, 테스트 360장), ReLU를 쓰는 MLP "
        "{pixels}-{hidden}-{hidden}-{classes}, mini-batch {batch}. 각 optimizer의 lr은 {grid_lo}~{grid_hi}의 "
        "{grid_n}개 값 중 {tune_epochs} epoch 후 검증 정확도(학습 세트의 {validation_pct}%를 떼어 둠)가 가장 높은 "
        "값이며, 그 lr로 같은 초기화와 batch 순서를 써서 전체 학습 세트에서 {epochs} epoch 다시 학습한다. 시간은 이 "
        "기계에서 실행 하나당 걸린 시간이다."
    ),
    "digits.fig.loss": "epoch별, 그리고 실제 시간에 따른 학습 loss.",
    "digits.fig.accuracy": "테스트 정확도.",
    "digits.sgd.supports": "{epochs} epoch 후 plain SGD의 학습 loss({sgd})는 momentum({momentum})과 Adam({adam})보다 높다: "
                           "셋 중 가장 느리다.",
    "digits.sgd.contradicts": "{epochs} epoch 후 plain SGD의 학습 loss는 {sgd}, momentum은 {momentum}, Adam은 {adam}이다: lr을 "
                              "튜닝하면 가장 느리지 않다.",
    "digits.adam.best": "Adam의 테스트 정확도는 {adam_acc}%로 셋 중 가장 높다: 좋은 기본값이다.",
    "digits.adam.supports": "Adam의 테스트 정확도는 {adam_acc}%로 최고({best}, {best_acc}%)와 {gap}%p 이내이다: 좋은 기본값이다.",
    "digits.adam.contradicts": "Adam의 테스트 정확도는 {adam_acc}%로 최고({best}, {best_acc}%)보다 {gap}%p 낮다: 튜닝하면 "
                               "기본값이 여기서의 승자는 아니다.",
    **BEYOND_KO,
}
