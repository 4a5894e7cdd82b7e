"""``passerelle migrate plan|run|copy|sync|verify|status|report``: move a store with proof."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from passerelle.migration import PlanOptions, PlanSummary, RunOptions, RunSummary
    from passerelle.migration.decrypt_check import DecryptCheck

__all__ = ["register"]

JournalOpt = Annotated[Path, typer.Option("--journal", "-j", help="The migration's journal file.")]


def _part_size(text: str | None) -> int | None:
    if text is None:
        return None
    from passerelle.migration import parse_rate

    return int(parse_rate(text))


def _run_options(
    concurrency: int,
    max_bandwidth: str | None,
    max_rps: float | None,
    part_size: str | None,
    faults: str | None = None,
    workers: int | None = None,
    cluster: str | None = None,
) -> RunOptions:
    from passerelle.errors import UsageError
    from passerelle.migration import RunOptions, parse_rate
    from passerelle.storage import parse_fault_plan

    if max_rps is not None and max_rps <= 0:
        raise UsageError("--max-requests-per-second must be positive.")
    if workers is not None and cluster is not None:
        raise UsageError(
            "Give --workers (a local cluster) or --cluster (a running scheduler), not both."
        )
    return RunOptions(
        concurrency=concurrency,
        part_size=_part_size(part_size),
        max_bandwidth=parse_rate(max_bandwidth) if max_bandwidth else None,
        max_requests_per_second=max_rps,
        faults=parse_fault_plan(faults) if faults else None,
        workers=workers,
        cluster=cluster,
    )


SourceArg = Annotated[str, typer.Argument(help="Source store URL, e.g. az://hdh@raw.")]
DestArg = Annotated[str, typer.Argument(help="Destination store URL, e.g. s3://scaleway@hdh.")]
RequireOpt = Annotated[
    str | None,
    typer.Option(help="Refuse a destination failing: hds,secnumcloud,eea,eu-jurisdiction."),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        help="The source holds these classifications (e.g. health-pseudonymized,reference): "
        "refuse a destination the placement policy forbids (the hub's, else national)."
    ),
]
IncludeOpt = Annotated[list[str] | None, typer.Option(help="Only keys matching this glob.")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(help="Skip keys matching this glob.")]
PlanPartSizeOpt = Annotated[str, typer.Option(help="Preferred multipart part size.")]
AssumeBandwidthOpt = Annotated[
    str, typer.Option(help="Bandwidth assumed for the duration estimate.")
]
AssumeRateOpt = Annotated[float, typer.Option(help="Objects per second assumed for the estimate.")]
Md5Opt = Annotated[
    bool,
    typer.Option(
        "--md5/--no-md5",
        help="Also store an MD5 (md5chksum, for third-party tools) beside the SHA-256 proof; "
        "--no-md5 saves about 2 CPU s per GiB.",
    ),
]
ListThreadsOpt = Annotated[
    int,
    typer.Option(
        help="Prefixes listed at once: each side is split by its top-level prefixes "
        "(1: one serial listing)."
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(min=1, max=512, help="Objects copied at once (with --workers: over all of them)."),
]
MaxBandwidthOpt = Annotated[str | None, typer.Option(help="Cap on bytes read, e.g. 200MB/s.")]
MaxRpsOpt = Annotated[float | None, typer.Option(help="Cap on requests to the destination.")]
RunPartSizeOpt = Annotated[str | None, typer.Option(help="Multipart part size, e.g. 16MiB.")]
FaultsOpt = Annotated[
    str | None,
    typer.Option(help="Rehearsal: inject faults, e.g. seed=7,transient=0.1,latency=0.2."),
]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, max=256, help="Copy on a local Dask cluster of N processes.")
]
ClusterOpt = Annotated[
    str | None, typer.Option(help="Copy on the workers of the Dask scheduler at tcp://HOST:PORT.")
]


def _plan(
    source: SourceArg,
    dest: DestArg,
    journal: JournalOpt,
    require: RequireOpt = None,
    policy: PolicyOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    part_size: PlanPartSizeOpt = "8MiB",
    assume_bandwidth: AssumeBandwidthOpt = "1Gbit/s",
    assume_rate: AssumeRateOpt = 500.0,
    md5: Md5Opt = True,
    list_threads: ListThreadsOpt = 8,
) -> None:
    """Inventory both sides and plan the copy, with cost and duration."""
    from passerelle.migration import plan_migration

    options = _plan_options(
        include, exclude, require, part_size, assume_bandwidth, assume_rate, md5, list_threads
    )
    _print_policy(source, dest, policy)
    summary = plan_migration(source, dest, journal, options)
    _print_plan(summary)
    from passerelle.cli.render import console

    console().print(f"journal: {summary.journal}; next: passerelle migrate run --journal {journal}")


def _plan_options(
    include: list[str] | None,
    exclude: list[str] | None,
    require: str | None,
    part_size: str,
    assume_bandwidth: str,
    assume_rate: float,
    md5: bool,
    list_threads: int = 8,
) -> PlanOptions:
    from passerelle.errors import UsageError
    from passerelle.migration import PlanOptions, parse_rate
    from passerelle.providers import parse_requirements

    if not 1 <= list_threads <= 256:
        raise UsageError(f"--list-threads must be between 1 and 256, not {list_threads}.")
    return PlanOptions(
        list_threads=list_threads,
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        require=parse_requirements(require) if require else (),
        part_size=_part_size(part_size) or 8 * 1024 * 1024,
        assume_bandwidth=parse_rate(assume_bandwidth),
        assume_rate=assume_rate,
        md5=md5,
    )


def _print_policy(source: str, dest: str, policy: str | None) -> None:
    from passerelle.cli.render import console

    if policy is not None:
        for line in _check_policy(source, dest, policy):
            console().print(f"policy: {line}")


def _print_plan(summary: PlanSummary) -> None:
    from rich.table import Table

    from passerelle.cli.render import console, human_size

    c = console()
    table = Table("plan", "objects", "bytes", title=f"{summary.source_url} -> {summary.dest_url}")
    labels = {
        "copy": "to copy",
        "changed": "changed (recopy)",
        "identical": "identical (proven)",
        "dest_only": "only at destination",
        "blocked": "blocked",
    }
    for action, label in labels.items():
        n, b = summary.counts.get(action, (0, 0))
        table.add_row(label, str(n), human_size(b))
    c.print(table)
    for key, reason in summary.blocked[:20]:
        c.print(f"  [yellow]blocked[/] {key}: {reason}")
    if len(summary.blocked) > 20:
        c.print(f"  ... {len(summary.blocked) - 20} more blocked (see `migrate report`)")
    est = summary.estimate
    costs = ", ".join(f"{v:.2f} {k}" for k, v in est.costs_by_currency.items()) or "0"
    c.print(
        f"estimate: egress {est.egress_cost:.2f} {est.egress_currency}, requests "
        f"{est.source_request_cost + est.destination_request_cost:.4f} "
        f"({est.source_requests} reads, {est.destination_requests} writes); total {costs}"
    )
    c.print(
        f"duration: about {_duration(est.seconds)} at "
        f"{human_size(int(est.bandwidth_bytes_per_s))}/s and {est.objects_per_s:g} objects/s"
    )
    if summary.dest_provider:
        c.print(
            f"destination provider: {summary.dest_provider} ({summary.dest_region or 'region ?'})"
        )
    if not summary.dest_exists:
        c.print("destination bucket/container does not exist yet: the copy creates it")


def _check_policy(source: str, dest: str, classes: str) -> list[str]:
    """``--policy``: the hub's placement policy (``$PASSERELLE_HUB``), else the national one."""
    from passerelle.hub.hub import CONFIG_NAME, hub_dir_from_env, load_config
    from passerelle.migration.planner import check_policy
    from passerelle.sovereignty.policy import NATIONAL_POLICY, check_classification
    from passerelle.storage import open_store

    chosen = tuple(check_classification(c.strip()) for c in classes.split(",") if c.strip())
    directory = hub_dir_from_env()
    rules = NATIONAL_POLICY
    if (directory / CONFIG_NAME).exists():
        rules = load_config(directory).policy
    return [f"{rules.name} policy", *check_policy(open_store(source), dest, rules, chosen)]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _report_run(summary: RunSummary, what: str) -> None:
    from passerelle.cli.render import console, human_size
    from passerelle.errors import TerminalError

    c = console()
    rate = summary.bytes / summary.seconds if summary.seconds else 0
    c.print(
        f"{what}: copied {summary.copied} objects ({human_size(summary.bytes)}) in "
        f"{summary.seconds:.1f} s ({human_size(int(rate))}/s), {summary.retries} retries"
        + (f", {summary.adopted} finished copies adopted after a crash" if summary.adopted else "")
    )
    for key, error in summary.failed[:20]:
        c.print(f"  [red]failed[/] {key}: {error}")
    for key, reason in summary.changed[:20]:
        c.print(f"  [yellow]changed[/] {key}: {reason}")
    if summary.failed:
        first, reason = summary.failed[0]
        raise TerminalError(
            f"{len(summary.failed)} objects failed (first {first}: {reason.rstrip('.')}); "
            "fix the cause and re-run."
        )
    if summary.changed:
        raise TerminalError(
            f"{len(summary.changed)} objects changed at the source during the copy; "
            "run `passerelle migrate sync` to copy their new versions."
        )
    for key, reason in summary.changed_earlier_keys:
        c.print(f"  [yellow]changed[/] {key}: {reason} (by an earlier run)")
    if summary.changed_earlier:
        first, reason = summary.changed_earlier_keys[0]
        raise TerminalError(
            f"{summary.changed_earlier} objects are still marked changed by an earlier run "
            f"(first {first}: {reason.rstrip('.')}); run `passerelle migrate sync` to copy them."
        )
    if summary.remaining:
        cause = f" ({summary.lost_reason.rstrip('.')})" if summary.lost_reason else ""
        raise TerminalError(
            f"{summary.remaining} objects are still pending{cause}; re-run to continue."
        )


def _progress_context(label: str) -> tuple[object, contextlib.AbstractContextManager[object]]:
    from passerelle.cli.progress import RichProgress, make_progress

    progress = make_progress(label)
    ctx: contextlib.AbstractContextManager[object] = (
        progress if isinstance(progress, RichProgress) else contextlib.nullcontext()
    )
    return progress, ctx


def _run(
    journal: JournalOpt,
    concurrency: ConcurrencyOpt = 16,
    max_bandwidth: MaxBandwidthOpt = None,
    max_requests_per_second: MaxRpsOpt = None,
    part_size: RunPartSizeOpt = None,
    inject_faults: FaultsOpt = None,
    workers: WorkersOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Copy everything pending in the plan; resumes after any interruption."""
    from passerelle.migration import run_migration

    options = _run_options(
        concurrency,
        max_bandwidth,
        max_requests_per_second,
        part_size,
        inject_faults,
        workers=workers,
        cluster=cluster,
    )
    progress, ctx = _progress_context("copy")
    with ctx:
        summary = run_migration(journal, options, progress=progress)  # type: ignore[arg-type]
    _report_run(summary, "run")


def _copy(
    source: SourceArg,
    dest: DestArg,
    journal: JournalOpt,
    require: RequireOpt = None,
    policy: PolicyOpt = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    part_size: PlanPartSizeOpt = "8MiB",
    md5: Md5Opt = True,
    list_threads: ListThreadsOpt = 8,
    concurrency: ConcurrencyOpt = 16,
    max_bandwidth: MaxBandwidthOpt = None,
    max_requests_per_second: MaxRpsOpt = None,
    inject_faults: FaultsOpt = None,
    workers: WorkersOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Plan and copy in one process (plan + run); re-run the same command to continue."""
    from passerelle.cli.render import console
    from passerelle.migration.one_step import copy_store

    plan = _plan_options(include, exclude, require, part_size, "1Gbit/s", 500.0, md5, list_threads)
    options = _run_options(
        concurrency,
        max_bandwidth,
        max_requests_per_second,
        None,
        inject_faults,
        workers=workers,
        cluster=cluster,
    )
    _print_policy(source, dest, policy)
    progress, ctx = _progress_context("copy")
    with ctx:
        summary = copy_store(source, dest, journal, plan, options, progress=progress)  # type: ignore[arg-type]
    if summary.resumed is not None and summary.plan is not None:
        _report_run(summary.resumed, "resumed the earlier run")
    if summary.plan is not None:
        _print_plan(summary.plan)
    _report_run(summary.run, "copy")
    console().print(
        f"journal: {journal}; prove it with: passerelle migrate verify --journal {journal}"
    )


def _sync(
    journal: JournalOpt,
    delete: Annotated[
        bool, typer.Option(help="Delete destination objects gone from the source.")
    ] = False,
    max_delete: Annotated[
        int | None, typer.Option(min=0, help="Refuse to delete more than this many objects.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=512)] = 16,
    max_bandwidth: Annotated[str | None, typer.Option()] = None,
    max_requests_per_second: Annotated[float | None, typer.Option()] = None,
) -> None:
    """Re-inventory and copy what is new or changed; deletions only with --delete."""
    from passerelle.cli.render import console
    from passerelle.errors import TerminalError
    from passerelle.migration import sync_migration

    options = _run_options(concurrency, max_bandwidth, max_requests_per_second, None)
    progress, ctx = _progress_context("sync")
    with ctx:
        summary = sync_migration(
            journal,
            options,
            delete=delete,
            max_delete=max_delete,
            progress=progress,  # type: ignore[arg-type]
        )
    c = console()
    if summary.deleted:
        c.print(f"deleted {len(summary.deleted)} objects only at the destination")
    if summary.extra_kept:
        c.print(f"{summary.extra_kept} objects only at the destination were kept (use --delete)")
    _report_run(summary.run, "sync")
    if summary.delete_failures:
        key, error = summary.delete_failures[0]
        raise TerminalError(
            f"{len(summary.delete_failures)} deletions failed (first {key}: {error})"
        )


def _verify(
    journal: JournalOpt,
    deep: Annotated[
        bool, typer.Option(help="Re-read and re-hash every destination object.")
    ] = False,
    source: Annotated[
        bool, typer.Option("--source", help="With --deep, re-hash the source too.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=512)] = 16,
    decrypt: Annotated[
        bool,
        typer.Option(
            "--decrypt",
            help="With --deep, also decrypt every envelope and check its plaintext SHA-256.",
        ),
    ] = False,
    hub: Annotated[
        Path | None, typer.Option("--hub", help="With --decrypt: the hub whose custody decrypts.")
    ] = None,
    kek_file: Annotated[
        Path | None, typer.Option("--kek-file", help="With --decrypt: a KEK file to decrypt with.")
    ] = None,
    identity_prefix: Annotated[
        str,
        typer.Option(help="With --decrypt: where the migrated store sits below the hub store."),
    ] = "",
) -> None:
    """Check every copied object at the destination; non-zero exit on any problem."""
    from passerelle.cli.render import console
    from passerelle.errors import TerminalError
    from passerelle.migration import verify_migration

    check = _decrypt_check(decrypt, hub, kek_file, identity_prefix)
    report = verify_migration(
        journal, deep=deep, check_source=source and deep, concurrency=concurrency, decrypt=check
    )
    c = console()
    mode = "deep (re-hashed)" if deep else "fast (sizes, ETags and stored digests)"
    if check is not None:
        mode = "deep (re-hashed, envelopes decrypted)"
    c.print(
        f"verify {mode}: {report.verified}/{report.checked} objects proven "
        f"in {report.seconds:.1f} s"
    )
    if check is not None:
        c.print(
            f"  {report.decrypted} envelopes decrypted with their plaintext SHA-256 "
            f"authenticated; {report.plaintext_objects} objects not encrypted (stored bytes only)"
        )
    problems = list(report.problems())
    for kind, key in problems[:50]:
        c.print(f"  [red]{kind}[/] {key}")
    if len(problems) > 50:
        c.print(f"  ... {len(problems) - 50} more (see `migrate report`)")
    if problems:
        kind, key = problems[0]
        raise TerminalError(
            f"Verification found {len(problems)} problems (first: {kind} {key}); "
            "re-run `migrate sync` and verify again."
        )
    c.print("[green]verified[/]: every planned object is at the destination with the right digest")


def _decrypt_check(
    decrypt: bool, hub: Path | None, kek_file: Path | None, identity_prefix: str
) -> DecryptCheck | None:
    """The custody ``--decrypt`` decrypts with: the hub's (``--hub``) or a KEK file's."""
    from passerelle.errors import UsageError

    if not decrypt:
        if hub is not None or kek_file is not None or identity_prefix:
            raise UsageError("--hub, --kek-file and --identity-prefix only go with --decrypt.")
        return None
    if (hub is None) == (kek_file is None):
        raise UsageError("--decrypt needs the keys: give either --hub DIR or --kek-file FILE.")
    from passerelle.keys.custody import KeyCustody
    from passerelle.migration.decrypt_check import DecryptCheck
    from passerelle.storage.keys import check_prefix

    custody: KeyCustody
    if hub is not None:
        from passerelle.hub.hub import Hub

        custody = Hub.open(hub).custody()
    else:
        from passerelle.keys.file_custody import FileCustody

        assert kek_file is not None
        if not kek_file.is_file():
            raise UsageError(f"The KEK file {kek_file} does not exist; check the path.")
        custody = FileCustody(kek_file.resolve())
    prefix = check_prefix(identity_prefix, what="identity prefix") if identity_prefix else ""
    return DecryptCheck(custody, identity_prefix=prefix)


def _status(journal: JournalOpt) -> None:
    """Show progress of a migration (works while `run` is going)."""
    from passerelle.cli.render import console, human_size
    from passerelle.migration import migration_status

    st = migration_status(journal)
    c = console()
    total_objects, total_bytes = st.to_copy
    done_objects, done_bytes = st.objects("done"), st.bytes("done")
    pct = 100.0 * done_bytes / total_bytes if total_bytes else 100.0
    c.print(
        f"{st.source_url} -> {st.dest_url}{'  [bold](run in progress)[/]' if st.running else ''}"
    )
    c.print(
        f"  copied {done_objects}/{total_objects} objects, {human_size(done_bytes)}/"
        f"{human_size(total_bytes)} ({pct:.1f}%)"
    )
    for status in ("pending", "copying", "failed", "changed", "blocked", "extra", "deleted"):
        if st.objects(status):
            c.print(f"  {status:<8} {st.objects(status)} objects, {human_size(st.bytes(status))}")
    if st.passes:
        last = st.passes[-1]
        state = last["outcome"] or ("running" if st.running else "interrupted")
        c.print(f"  last pass: {last['command']} {state} (started {last['started_at']})")
    if st.workers:
        from passerelle.cli.progress import describe_worker

        eta = "unknown" if st.eta is None else _duration(st.eta)
        c.print(
            f"  last run: {human_size(int(st.rate or 0))}/s over {len(st.workers)} "
            f"worker{'s' if len(st.workers) != 1 else ''}, ETA {eta}"
        )
        for worker in st.workers:
            c.print(f"    {describe_worker(worker)}", markup=False, highlight=False, soft_wrap=True)


def _report(
    journal: JournalOpt,
    fmt: Annotated[str, typer.Option("--format", help="json, csv or text.")] = "text",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Write the auditors' report: per-object manifest (json/csv) or summary (text)."""
    from passerelle.errors import UsageError
    from passerelle.migration import write_report

    if output is None:
        write_report(journal, fmt, sys.stdout)
        return
    if not output.parent.exists():
        raise UsageError(f"The folder {output.parent} does not exist; create it first.")
    tmp = output.with_name(output.name + ".partial")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        write_report(journal, fmt, out)
    tmp.replace(output)


def register(app: typer.Typer) -> None:
    migrate = typer.Typer(
        help="Move a store to another cloud with per-object proof.", no_args_is_help=True
    )
    migrate.command("plan")(_plan)
    migrate.command("run")(_run)
    migrate.command("copy")(_copy)
    migrate.command("sync")(_sync)
    migrate.command("verify")(_verify)
    migrate.command("status")(_status)
    migrate.command("report")(_report)
    from passerelle.cli import certificate_cmd  # `migrate certificate [verify]`

    certificate_cmd.register(migrate)
    app.add_typer(migrate, name="migrate")
