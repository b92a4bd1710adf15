"""The weekly auditor report: last ISO week (Asia/Shanghai) → frozen snapshot → HTML, CSV, Prefect
artifacts → auditors told through the outbox.

`freeze_report` is the plain function, run in a `Runtime` (the flow's own, the CLI's from
`open_app`; `build_weekly_report` is the same for the tests, the benchmark and the demo, which hold
an engine and a config): load the week's aggregates (SQL, models/report.py, into a
`domain.report_data.WeekData`) → shape them (pure, domain/report.py, into a `ReportContent`) →
freeze: store a new version (the content's JSON) only when the figures differ from the last one,
refusing without `force` → write the files (notifications/report_render.py, from the `ReportContent`).
Re-running a week whose figures have not changed stores nothing new and queues nothing new.
The HTML page is rendered once, at the freeze, and stored with the version (models/report_html.py):
the web serves it from there, and `report verify` checks it against its sha256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from domain.deadlines import SHANGHAI
from domain.report import (
    Names,
    ReportContent,
    ReportPolicy,
    Week,
    build_content,
    canonical_json,
    differences,
    digest,
    month_start,
    parse_week,
    previous_week,
)
from domain.taxonomy import CATEGORIES, CAUSES, CHANNELS
from models.anchors import (
    Anchor,
    anchor_file,
    anchor_in,
    append_to_file,
    key_from_env,
    require_signing,
)
from models.audit_chain import AuditDraft, append
from models.db import make_engine
from models.report import (
    late_registrations,
    latest_snapshot,
    load_week,
    registered_before,
    store_snapshot,
    totals,
)
from models.report_html import html_digest, snapshot_id, store_html, stored_html
from notifications.contracts import ReportReady
from notifications.outbox import OutboxItem, enqueue
from notifications.report_render import markdown_summary, read_content, render_html, write_files
from services.unit_of_work import Runtime
from settings.config import REPO_ROOT, Config, load_config

KIND = "report_ready"


class ReportChanged(Exception):
    """The figures of a frozen week differ from its stored version; regenerate with force."""

    def __init__(self, week: str, version: int, diffs: list[str]) -> None:
        self.week, self.version, self.diffs = week, version, diffs
        super().__init__(f"{week}: the figures differ from frozen version v{version}; "
                         f"re-run with --force to store a new version:\n  " + "\n  ".join(diffs))


@dataclass
class ReportResult:
    week: str
    version: int
    sha256: str
    created: bool  # a new version was stored (else the stored one matched)
    input_rows: int
    output_dir: Path
    link: str
    content: ReportContent = field(repr=False)
    anchor: dict[str, Any] | None = None  # the audit chain's signed head at the freeze (models/anchors.py)

    def as_dict(self) -> dict[str, Any]:
        return {"week": self.week, "version": self.version, "sha256": self.sha256, "created": self.created,
                "input_rows": self.input_rows, "output_dir": str(self.output_dir), "link": self.link,
                "summary": self.content.summary.as_dict(), "anchor": self.anchor}


def names_of(config: Config) -> Names:
    org = config.org
    return Names(
        branches={code: b.name for code, b in org.branches.items()},
        departments={(code, d.code): d.name for code, b in org.branches.items() for d in b.departments.values()},
        terms={"channel": {t.code: t.name for t in CHANNELS}, "category": {t.code: t.name for t in CATEGORIES},
               "cause": {t.code: t.name for t in CAUSES}},
    )


def policy_of(config: Config) -> ReportPolicy:
    r = config.report
    return ReportPolicy(repeat_window_days=r.repeat_window_days, customers=dict(r.customers),
                        caps={(c.branch, c.department): c.monthly for c in r.caps})


def output_root(config: Config, override: Path | None = None) -> Path:
    root = override or Path(config.report.output_dir)
    return root if root.is_absolute() else REPO_ROOT / root


def compute_content(session: Session, config: Config, week: Week) -> ReportContent:
    """The week's figures as of its end, shaped into the report's content (read-only)."""
    policy = policy_of(config)
    data = load_week(session, week, repeat_window_days=policy.repeat_window_days, month_start=month_start(week))
    return build_content(data=data, previous=totals(session, week.shift(-1)), names=names_of(config), policy=policy)


class WeekError(ValueError):
    """The week asked for cannot be reported: malformed, no such ISO week, or not over yet (Chinese)."""


def check_week(value: str) -> Week:
    """`2026-W47` → Week, or WeekError naming --week in Chinese."""
    try:
        return parse_week(value)
    except ValueError:
        text = value.strip().upper()
        if len(text) == 8 and text[:4].isdigit() and text[4:6] == "-W" and text[6:].isdigit():
            raise WeekError(f"报告周（--week）：{text[:4]} 年没有第 {int(text[6:])} 周"
                            "（ISO 周为第 1 至 52 周，个别年份有第 53 周）") from None
        raise WeekError(f"报告周（--week）：{value!r} 不是 ISO 周，请写成如 2026-W47") from None


def report_link(link_base: str, week: str) -> str:
    """The page that shows a frozen week's report: the site's `/reports/{week}` (a person who is not
    signed in is sent to the login page first). `link_base` names the site's reports root (`…/reports/`)."""
    base = link_base.rstrip("/")
    for tail in ("/api/reports", "/reports"):
        if base.endswith(tail):
            base = base[: -len(tail)]
            break
    return f"{base}/reports/{week}"


def resolve_week(week: Week | str | None, now: datetime) -> Week:
    """The week to report: the one asked for, or the last complete week before `now`; WeekError if not over."""
    w = previous_week(now) if week is None else week if isinstance(week, Week) else check_week(week)
    if w.end > now:
        raise WeekError(f"报告周（--week）：{w.label}（{w.period}）尚未结束，"
                        f"{w.end.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M')}（北京时间）才结束；"
                        "报告只为已结束的整周出具并冻结")
    return w


def _render(content: ReportContent, version: int, generated_at: datetime, sha: str, config: Config) -> str:
    return render_html(content, version=version, generated_at=generated_at.astimezone(SHANGHAI).isoformat(),
                       sha256=sha, institution=config.institution)


def build_weekly_report(engine: Engine, config: Config, week: Week | str | None, now: datetime, *,
                        force: bool = False, output_dir: Path | None = None,
                        actor: str = "weekly-report") -> ReportResult:
    """`freeze_report` for a caller holding an engine and a config rather than a Runtime (the
    tests, the benchmark, the demo)."""
    return freeze_report(Runtime(config, engine), week, now, force=force, output_dir=output_dir, actor=actor)


def freeze_report(rt: Runtime, week: Week | str | None, now: datetime | None = None, *, force: bool = False,
                  output_dir: Path | None = None, actor: str = "weekly-report") -> ReportResult:
    """Compute, freeze and write one week's report in the Runtime's transaction (serialised on
    SQLite); `now` defaults to the Runtime's clock. See the module docstring."""
    config = rt.config
    now = now or rt.now()
    w = resolve_week(week, now)
    key = key_from_env()  # refused (AnchorError) before anything is stored if set but unusable
    require_signing(key)  # or a public key only (it cannot sign the freeze's anchor)
    anchor: Anchor | None = None
    with rt.session() as session:
        content = compute_content(session, config, w)
        sha = content.sha256
        latest = latest_snapshot(session, w.label)
        directory = output_root(config, output_dir) / w.label
        link = report_link(config.report.link_base, w.label)
        if latest is not None and latest.sha256 == sha:
            version, generated_at, created = int(latest.version), latest.generated_at, False
            anchor_json = latest.anchor
            kept = stored_html(session, int(latest.id))
            if kept is not None:
                html = kept[0]
            else:  # frozen before the page was stored (0011): rendered and stored now, once
                html = _render(content, version, generated_at, sha, config)
                store_html(session, int(latest.id), html)
        else:
            if latest is not None and not force:
                raise ReportChanged(w.label, int(latest.version),
                                    differences(json.loads(latest.content), content.as_dict()))
            version, generated_at, created = (int(latest.version) + 1 if latest else 1), now, True
            append(session, [AuditDraft(at=now, actor=actor, action="report_generated",
                                        after={"week": w.label, "version": version, "sha256": sha,
                                               "input_rows": content.input_rows},
                                        detail=f"weekly report {w.label} v{version}")])
            # The chain head signed at the freeze, its report_generated event (with the sha256) included:
            # in the snapshot, the message, the artifact and the anchor file.
            anchor = anchor_in(session, key, f"report:{w.label}:v{version}", now)
            anchor_json = anchor.as_json()
            store_snapshot(session, {
                "week": w.label, "version": version, "generated_at": now, "input_rows": content.input_rows,
                "sha256": sha, "content": canonical_json(content.as_dict()).decode(),
                "output_dir": str(directory), "forced": latest is not None, "actor": actor, "anchor": anchor_json,
            })
            # The page is rendered once, here, and stored with the version (served from storage).
            html = _render(content, version, generated_at, sha, config)
            store_html(session, snapshot_id(session, w.label, version), html)
            s = content.summary
            ctx = ReportReady(week=w.label, period=w.period, version=version, received=s.new,
                              closed=s.closed, overdue=s.overdue_at_end, link=link,
                              anchor_seq=anchor.seq, anchor_hash=anchor.hash[:16])
            items = [OutboxItem(kind=KIND, recipient=p, key=f"report:{w.label}:v{version}", context=ctx)
                     for p in config.report.recipients]
            enqueue(session, items, org=config.org, now=now)
    write_files(directory, content, html)
    if anchor is not None:
        append_to_file(anchor_file(), anchor, key)
    return ReportResult(w.label, version, sha, created, content.input_rows, directory, link, content, anchor_json)


@dataclass
class VerifyOutcome:
    week: str
    ok: bool
    version: int | None = None
    stored_sha256: str | None = None
    recomputed_sha256: str | None = None
    problems: list[str] = field(default_factory=list)
    # Cases received before the week's end but registered after its freeze (补录): not counted in
    # the recomputation, which reproduces the figures as known when frozen; named here instead.
    late_registrations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify_weekly_report(engine: Engine, config: Config, week: Week | str, *, output_dir: Path | None = None) -> VerifyOutcome:
    """`verify_report` for a caller holding an engine and a config rather than a Runtime."""
    return verify_report(Runtime(config, engine), week, output_dir=output_dir)


def verify_report(rt: Runtime, week: Week | str, *, output_dir: Path | None = None) -> VerifyOutcome:
    """Recompute a frozen week and compare: the stored row with its own hash, the figures with the
    data now, and the content.json on disk with the stored content. Names what differs. Runs in
    the Runtime's transaction (serialised on SQLite: not inside another of its transactions).

    The figures are recomputed from the cases registered before the snapshot was generated (its
    freeze); a case registered later for that week is listed in `late_registrations` and does not
    count as a changed figure."""
    config = rt.config
    w = week if isinstance(week, Week) else parse_week(week)
    with rt.session() as session:
        latest = latest_snapshot(session, w.label)
        if latest is None:
            return VerifyOutcome(w.label, False, problems=[f"{w.label}: no frozen report (run complaints report --week {w.label})"])
        stored = json.loads(latest.content)
        page = stored_html(session, int(latest.id))
        late = late_registrations(session, w, latest.generated_at)
        if late:
            with registered_before(session, latest.generated_at):
                recomputed = compute_content(session, config, w)
        else:
            recomputed = compute_content(session, config, w)
    fresh = recomputed.as_dict()
    out = VerifyOutcome(w.label, True, int(latest.version), latest.sha256, recomputed.sha256,
                        late_registrations=[{"case_no": r["case_no"], "received_at": r["received_at"].isoformat(),
                                             "registered_at": r["created_at"].isoformat()} for r in late])
    if digest(stored) != latest.sha256:
        out.problems.append(f"stored content of v{latest.version} does not match its sha256: the snapshot was edited; "
                            f"stored vs recomputed:")
        out.problems.extend("  " + d for d in differences(stored, fresh))
    if out.recomputed_sha256 != latest.sha256:
        out.problems.append(f"the figures recomputed from the data differ from frozen v{latest.version}:")
        out.problems.extend("  " + d for d in differences(stored, fresh))
    if page is not None and html_digest(page[0]) != page[1]:
        out.problems.append(f"the stored page of v{latest.version} does not match its sha256 {page[1][:16]}…: "
                            "the page was edited after the freeze")
    elif page is not None and latest.sha256 not in page[0]:
        out.problems.append(f"the stored page of v{latest.version} does not name the snapshot's sha256: "
                            "it is not this version's page")
    on_disk = read_content(output_root(config, output_dir) / w.label)
    if on_disk is not None and digest(on_disk) != latest.sha256:
        out.problems.append(f"{output_root(config, output_dir) / w.label / 'content.json'} differs from frozen v{latest.version}")
    out.ok = not out.problems
    return out


def publish_artifacts(result: ReportResult) -> None:
    """The summary (markdown) and every table as Prefect artifacts, keys like weekly-report-2026-w47."""
    key = f"weekly-report-{result.week.lower()}"
    create_markdown_artifact(key=key, markdown=markdown_summary(result.content, version=result.version,
                             sha256=result.sha256, link=result.link), description=f"投诉处理周报 {result.week}")
    for table in result.content.tables:
        rows = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
        create_table_artifact(key=f"{key}-{table.key}", table=rows, description=table.title)
    if result.anchor:
        create_markdown_artifact(key=f"{key}-anchor", markdown=anchor_markdown(result.anchor),
                                 description=f"审计链锚点 {result.week}")


def anchor_markdown(anchor: dict[str, Any]) -> str:
    sig = anchor.get("sig") or "未签名（未配置 COMPLAINTS_ANCHOR_KEY）"
    return (f"**审计链锚点**：第 {anchor['seq']} 条，哈希 `{anchor['hash']}`\n\n"
            f"时间 {anchor['at']} · 来源 {anchor['source']} · 签名 `{sig}`")


@flow(name="weekly-report", log_prints=False)
def weekly_report(week: str | None = None, force: bool = False, output_dir: str | None = None) -> dict[str, Any]:
    """Last ISO week's report (or `week`, e.g. 2026-W47): frozen, written, published, announced."""
    logger = get_run_logger()
    rt = Runtime(load_config(), make_engine())  # the flow run's own: a worker runs it in its own process
    try:
        result = freeze_report(rt, week, datetime.now(UTC), force=force,
                               output_dir=Path(output_dir) if output_dir else None)
    finally:
        rt.engine.dispose()
    publish_artifacts(result)
    logger.info("weekly report %s v%d (%s): %d input rows, sha256 %s", result.week, result.version,
                "new" if result.created else "unchanged", result.input_rows, result.sha256)
    return result.as_dict()
