"""Masking cost per message against an unmasked render, in one run.

`routed` messages are built by the real producer (models.routing_store.routed_context, which masks
the request with `mask_free_text` and the case's names) from requests drawn from a corpus (half
with personal data in free text: names after kinship words, phones with dots / spaces / +86,
e-mail, cards, ID numbers, addresses; half plain). Each message is then rendered (text and HTML,
jinja2) by the real Renderer, which masks every string of the context again (`mask_context`),
and by the same Renderer with that second masking skipped. Chunks of both alternate, so the two
see the same machine load. Prints per message: the producer's masking, the render with and
without masking, and the ratio masked / unmasked render (and with the producer's masking added).

    .venv/bin/python bench/bench_masking.py [--n 20000] [--chunk 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from complaints.config import load_config  # noqa: E402
from domain.intake import RoutedMemo  # noqa: E402
from domain.masking import mask_free_text  # noqa: E402
from models.routing_store import routed_context  # noqa: E402
from notifications.contracts import RENDERER_KEYS, from_plain, to_plain  # noqa: E402
from notifications.render import Item, Renderer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
NAMES = ("刘桂兰", "王建国", "张三丰", "李秀英", "欧阳娜娜")
PII = (
    "投诉人{n}称儿子赵小明电话138.1234.5678，要求退还年费 200 元并书面道歉。",
    "客户{n}反映信用卡6222 0212 3456 7890 123被盗刷 3,500.00 元，请联系 +86 139-8765-4321。",
    "{n}（身份证110105 19491231 002X）要求更正征信记录，邮箱 liu.guilan@example.com。",
    "本人{n}住大连市中山区人民路45号3栋2单元1502室，2026-11-20 10:30 到网点办理时被拒。",
    "女儿：孙丽代{n}来电 1 3 8 1 2 3 4 5 6 0 1，要求撤销保险并退还保费。",
)
PLAIN = (
    "要求退还信用卡年费并书面道歉，核实扣费依据与合同条款是否一致。",
    "对贷款利率调整有异议，要求按合同约定的利率执行并退还多收利息。",
    "网点排队时间过长，要求改进服务并给予答复。",
    "理财产品到期未按时兑付，要求说明原因并尽快兑付本息。",
    "手机银行转账失败但已扣款，要求查明并退回款项。",
)


def requests(n: int) -> list[tuple[str, str]]:
    """(complainant name, request): half with personal data in the text, half plain."""
    out = []
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        text = PII[i % len(PII)] if i % 2 == 0 else PLAIN[i % len(PLAIN)]
        out.append((name, text.format(n=name)))
    return out


class UnmaskedRenderer(Renderer):
    """The same render without the second masking of the context (the baseline)."""

    def _context(self, item: Item) -> dict[str, Any]:
        plain = to_plain(from_plain(item.kind, item.context))
        context = {k: v for k, v in plain.items() if k not in RENDERER_KEYS}
        context["message_id"] = item.message_id
        return context


def produce(config: Any, data: list[tuple[str, str]]) -> tuple[list[Item], float]:
    """The routed contexts as intake builds them; returns them and the seconds spent masking."""
    memo: RoutedMemo = {}
    items = []
    for i, (name, request) in enumerate(data):
        ctx = routed_context(case_no=f"DL-2026-{i:06d}", role="handler", category="B01", severity="ordinary",
                             tags=[], triage=False, reasons=[], department_branch="dl", department="card",
                             handler=None, complainant_name=name, request=request, received_at=T0,
                             regulatory_due_at=T0 + timedelta(days=15), ack_due_at=T0 + timedelta(days=1),
                             config=config, memo=memo)
        items.append(Item("routed", to_plain(ctx), f"m{i:08d}"))
    start = time.perf_counter()
    for name, request in data:
        mask_free_text(request, names=(name,))
    return items, time.perf_counter() - start


def run(n: int, chunk: int) -> dict[str, float]:
    config = load_config(ROOT / "config")
    data = requests(n)
    items, t_produce = produce(config, data)
    masked, unmasked = Renderer(), UnmaskedRenderer()
    for r in (masked, unmasked):  # warm the template cache
        r.render(items[0], html=True)
    t_masked = t_plain = 0.0
    for start in range(0, n, chunk):
        part = items[start:start + chunk]
        t = time.perf_counter()
        for it in part:
            unmasked.render(it, html=True)
        t_plain += time.perf_counter() - t
        t = time.perf_counter()
        for it in part:
            masked.render(it, html=True)
        t_masked += time.perf_counter() - t
    us = 1e6 / n
    return {"produce_us": t_produce * us, "plain_us": t_plain * us, "masked_us": t_masked * us,
            "ratio": t_masked / t_plain, "ratio_all": (t_masked + t_produce) / t_plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="messages per run")
    parser.add_argument("--chunk", type=int, default=500, help="messages per alternating chunk")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"masking: {args.n:,} routed messages (half with personal data in the request), text + HTML, "
          f"chunks of {args.chunk} alternating, {args.repeat} runs")
    runs = []
    for i in range(args.repeat):
        r = run(args.n, args.chunk)
        runs.append(r)
        print(f"  run {i}: producer mask_free_text {r['produce_us']:.1f} µs/msg | render unmasked "
              f"{r['plain_us']:.1f} µs/msg | render masked {r['masked_us']:.1f} µs/msg | ratio {r['ratio']:.3f} "
              f"(with the producer's masking {r['ratio_all']:.3f})")
    print(f"  median ratio {statistics.median(r['ratio'] for r in runs):.3f}, with the producer's "
          f"{statistics.median(r['ratio_all'] for r in runs):.3f}")


if __name__ == "__main__":
    main()
