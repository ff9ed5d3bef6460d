"""The claims of the Korean optimization notes (../shared/seed) that each chapter checks, quoted verbatim."""

from __future__ import annotations

QUOTES: dict[str, str] = {
    "zigzag": ("이 zig-zagging은 각 차원이 loss 공간에 미치는 영향이 다를 때, 즉 경사면의 기울기가 축에 따라 다를 때 "
               "나타난다. … 만약 SGD가 아닌 GD(full gradient descent일 경우 y축에서 가장 loss가 작은부분으로 움직인 뒤 "
               "x축으로 움직일 것이다."),
    "minibatch": ("SGD에서는 mini batch등을 이용하기 때문에 gradient를 계산하더라도 noise가 생길 수 밖에 없다. … 특히 y축으로 "
                  "매우 민감하기 때문에 작은 noise에도 크게 반응하게 된다."),
    "minima": ("SGD가 더 이상 학습을 하지 못하고 local optima에 멈추는 문제가 생길 수 있다. … 고차원에서는 모든 차원에서의 "
               "기울기가 한꺼번에 0이 되는 경우가 매우 드물기 때문에 deep learning에서 크게 문제가 되는 경우가 되지 않는다. "
               "… momentum은 이러한 좁은 minima를 효과적으로 무시하여 지나갈 수 있다는 장점이 존재한다."),
    "saddle": ("고차원을 다루는 deep learning의 특성상 한 지점에서 임의의 차원에서 gradient 값이 0이 되는 경우가 많기 떄문에 "
               "실제로는 생각과 다르게 saddle point가 문제가 되는 경우가 많다"),
    "momentum": ("velocity가 있기 때문에 step의 크기가 커질 수 있게 된다 … 속도가 빨라 최적점을 지나가는 overshooting 현상을 "
                 "억제할 수 없다."),
    "nesterov": ("overshooting을 막기 위해 한걸음 미리 가보고 overshooting이 될 것 같으면 … 그만큼 직접가지 않도록 만들어 "
                 "방지한다. … overshooting의 정도는 줄었지만 여전히 존재한다"),
    "adagrad": ("cache에 gradient값이 갈수록 누적이 되어 learing rate가 매우 크게 감소하게 됨 … learning rate가 0에 수렴하게 "
                "되면 더이상 update가 되지 않아 학습이 종료됨"),
    "rmsprop": ("지수 평균을 사용하여 과거의 정보를 쓰면서도 최신 값에 큰 가중치를 두어 gradient의 제곱값이 지나치게 증가하는 "
                "현상을 완화하여 빠르게 학습이 종료되는 문제를 해결한다. … momentum에서 나타났던 overshooting 문제가 해결이 됨"),
    "adam": ("처음에 large step을 할 가능성이 있어 수렴에 실패할 수 있다. … bias correction … 첫번째와 두번째 update때 큰 "
             "step을 하는 문제를 해결한다 … dimension이 기울어져있을때 좌표가(vector) rotate 되지 못하므로 제대로된 경로를 "
             "가지지 못하는데"),
    "schedules": ("주로 초기에는 큰 learning rate, 뒤로 갈 수록 learning rate를 낮추는 방법을 주로 사용한다. … 맨 처음에는 "
                  "decay하지 않게 하고 나중에 decay가 필요할 때 위의 방법을 사용하라고 추천함"),
    "second_order": ("hyperparameter와 learning rate를 구할 필요가 없다는 점에서 장점을 가진다. 하지만 실제 계산에서는 매우 많은 "
                     "메모리가 필요하고 시간이 오래걸리기 때문에 쓰지 않는다. … LBFGS: … 전체 training set을 모두 "
                     "계산해야함 (mini batch로 하지 않음)"),
    "beyond": ("굳이 문제점을 찾자면 dimension이 기울어져있을때 좌표가(vector) rotate 되지 못하므로 제대로된 경로를 가지지 "
               "못하는데 이 문제는 지금까지 알아본 모든 방법에서도 해결이 불가능하다."),
    "digits": ("느리다! … Adam의 방식이 유명한 방법이기 때문에 효과적인 hyperparameter 값들이 무엇인지 알려져 있는데"),
}
