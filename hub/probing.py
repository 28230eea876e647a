"""`riverwatch probe URL...` and `riverwatch check-config --probe FILE`: what streams send.

The measuring is `ingest.probe`; this module turns command-line arguments and config files
into probe targets and prints the reports. Exit status: 0 when every stream opened and sent
video, 1 when one did not (each is still reported), 2 for a bad config file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from urllib.parse import unquote, urlsplit

from hub.gop import gop_warnings
from ingest.probe import ProbeReport, ProbeTarget, format_report, probe_stream, probe_streams
from ingest.session import SessionLimits
from riverwatch.config import LoadedConfig
from riverwatch.secrets import Redactor, redact_url
from riverwatch.settings import Settings

Out = Callable[[str], None]


def url_targets(urls: Sequence[str]) -> tuple[list[ProbeTarget], Redactor]:
    """Targets for URLs given on the command line, and a redactor that knows their secrets."""
    redactor = Redactor()
    for url in urls:
        password = urlsplit(url).password
        if password:
            redactor.add(password)
            redactor.add(unquote(password))
    return [ProbeTarget(redact_url(u), u) for u in urls], redactor


def config_targets(loaded: LoadedConfig) -> list[ProbeTarget]:
    """Each camera's `url` and `sub_url`."""
    targets = []
    for cam in loaded.cameras:
        targets.append(ProbeTarget(f"{cam.id} url", cam.url.get_secret_value()))
        if cam.sub_url is not None:
            targets.append(ProbeTarget(f"{cam.id} sub_url", cam.sub_url.get_secret_value()))
    return targets


def gop_advice(loaded: LoadedConfig, reports: Sequence[ProbeReport]) -> list[str]:
    """For each camera whose analysed stream (its sub-stream if it has one) keeps keyframes
    too far apart for its zones, the hub's own warning (`hub.gop`), at the longest interval
    the probe measured."""
    by_label = {r.label: r for r in reports}
    advice = []
    for cam in loaded.cameras:
        label = f"{cam.id} sub_url" if cam.sub_url is not None else f"{cam.id} url"
        report = by_label.get(label)
        if report is None or report.video is None or not report.video.gop_intervals_s:
            continue
        gop_s = max(report.video.gop_intervals_s)
        mode, zones = cam.config.analysis.decode_mode, cam.config.zones
        advice += [f"camera {cam.id}: {w}" for w in gop_warnings(gop_s, mode, zones)]
    return advice


def run_probes(
    targets: Sequence[ProbeTarget],
    redactor: Redactor,
    args: argparse.Namespace,
    settings: Settings,
    out: Out,
    loaded: LoadedConfig | None = None,
) -> int:
    """Probe the targets, print every report (and, for a config, the long-GOP warnings), and
    say how many failed; 1 if any did."""
    open_s = args.timeout or settings.open_timeout_s
    read_s = args.timeout or settings.read_timeout_s
    limits = SessionLimits(open_s, read_s, max_consecutive_decode_errors=1)
    out(
        f"probing {len(targets)} stream(s), {args.parallel} at a time, up to {args.seconds:g} s "
        f"each (timeouts: connect {open_s:g} s, read {read_s:g} s) ..."
    )
    reports = probe_streams(targets, args.seconds, limits, redactor, args.gops, args.parallel)
    for report in reports:
        for line in format_report(report):
            out(redactor.scrub(line))
    for line in gop_advice(loaded, reports) if loaded is not None else []:
        out(f"WARNING {line}")
    return _summary(reports, out)


def _summary(reports: Sequence[ProbeReport], out: Out) -> int:
    failed = [r for r in reports if not r.ok]
    odd = [r for r in reports if r.ok and r.timestamps is not None and r.timestamps.problems]
    out(
        f"{len(reports) - len(failed)} of {len(reports)} stream(s) answered"
        + (f"; failed: {', '.join(r.label for r in failed)}" if failed else "")
        + (f"; bad timestamps: {', '.join(r.label for r in odd)}" if odd else "")
    )
    return 1 if failed else 0


def probe_url(url: str, settings: Settings, seconds: float = 8.0) -> ProbeReport:
    """One stream's figures and first picture, for the admin's "test this URL" (blocking: run
    it in a worker thread); its URL redacted and its errors scrubbed of its credentials."""
    (target,), redactor = url_targets([url])
    limits = SessionLimits(
        settings.open_timeout_s, settings.read_timeout_s, max_consecutive_decode_errors=1
    )
    return probe_stream(target, seconds, limits, redactor, gops=3, snapshot=True)
