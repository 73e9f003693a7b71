"""`netladder serve` beside Debian's prometheus-blackbox-exporter, in the demo lab: the same
module file, the same targets, the same answers — metric names, labels and the values that do
not depend on timing; bad queries answered with the same status and words; a target outside
the allowlist refused; and Debian's Prometheus scraping netladder with the README's job.

Both exporters and Prometheus run inside the lab's client namespace (its own loopback), on
ports no system-wide instance could hold there, and each is checked to be the process it should
be (build info) before anything is compared.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from netladder.lab import Lab
from netladder.lab.topologies import demo
from serve_lab import spawn, stop, wait_ready

pytestmark = pytest.mark.lab

BLACKBOX = shutil.which("prometheus-blackbox-exporter")
PROMETHEUS = shutil.which("prometheus")
NETLADDER = str(Path(sys.executable).with_name("netladder"))
README = Path(__file__).resolve().parents[1] / "README.md"

BB_PORT = 19115
NL_PORT = 9115  # the README's scrape job points at 127.0.0.1:9115
NL_ALLOW_PORT = 19117
PROM_PORT = 19090

SERVER = "198.51.100.10"
EMPTY_LAN = "198.51.100.99"  # inside the LAN behind r1, where no host answers

MODULES = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
  http_post_2xx:
    prober: http
    timeout: 5s
    http:
      method: POST
  http_ip4:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200, 404]
  http_body:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["alt"]
  http_host:
    prober: http
    timeout: 5s
    http:
      headers:
        Host: www.lab
  tcp_connect:
    prober: tcp
    timeout: 3s
  ssh_banner:
    prober: tcp
    timeout: 3s
    tcp:
      query_response:
      - expect: "^SSH-2.0-"
      - send: "SSH-2.0-blackbox-ssh-check"
  icmp:
    prober: icmp
    timeout: 2s
  icmp_ttl1:
    prober: icmp
    timeout: 2s
    icmp:
      ttl: 1
  dns_www:
    prober: dns
    timeout: 3s
    dns:
      query_name: www.lab
      query_type: A
  dns_soa:
    prober: dns
    timeout: 3s
    dns:
      query_name: lab
      query_type: SOA
  dns_nx:
    prober: dns
    timeout: 3s
    dns:
      query_name: nothere.lab
      query_type: A
  dns_answer_check:
    prober: dns
    timeout: 3s
    dns:
      query_name: server.lab
      query_type: A
      validate_answer_rrs:
        fail_if_not_matches_regexp: ["^server\\\\.lab\\\\.\\t.*\\tA\\t198\\\\.51\\\\.100\\\\.10$"]
  dns_answer_refused:
    prober: dns
    timeout: 3s
    dns:
      query_name: www.lab
      query_type: A
      validate_answer_rrs:
        fail_if_matches_regexp: ["^www\\\\.lab\\\\.\\t300\\tIN\\tCNAME\\tserver\\\\.lab\\\\.$"]
"""

# (module, target, expected success): passing and failing targets of every prober
CASES = [
    ("http_2xx", f"http://{SERVER}/", 1),
    ("http_2xx", f"{SERVER}:8080", 1),
    ("http_2xx", "http://www.lab/", 1),
    ("http_2xx", f"http://{SERVER}/status/404", 0),
    ("http_2xx", f"http://{SERVER}/status/204", 1),
    ("http_2xx", f"http://{SERVER}:81/", 0),
    ("http_post_2xx", f"http://{SERVER}/", 1),
    ("http_ip4", "http://www.lab/nothere", 1),
    ("http_host", f"http://{SERVER}/", 1),
    ("http_body", f"http://{SERVER}:8080/", 1),
    ("http_body", f"http://{SERVER}/", 0),
    ("tcp_connect", f"{SERVER}:22", 1),
    ("tcp_connect", f"{SERVER}:23", 0),
    ("tcp_connect", f"{SERVER}", 0),
    ("tcp_connect", "server.lab:25", 1),
    ("ssh_banner", f"{SERVER}:22", 1),
    ("icmp", SERVER, 1),
    ("icmp", "server.lab", 1),
    ("icmp", EMPTY_LAN, 0),
    ("icmp_ttl1", SERVER, 0),
    ("dns_www", SERVER, 1),
    ("dns_soa", f"{SERVER}:53", 1),
    ("dns_nx", SERVER, 0),
    ("dns_answer_check", SERVER, 1),
    ("dns_answer_refused", SERVER, 0),
    ("dns_www", "198.51.100.66", 0),
]

# Values that depend on timing (or on when the probe ran) are compared by presence only.
TIMING = {
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_http_duration_seconds",
    "probe_icmp_duration_seconds",
    "probe_dns_duration_seconds",
}
NETLADDER_ONLY = {"probe_failure_info"}

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def fetch(
    lab: Lab, url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], str]:
    argv = ["curl", "-s", "-S", "-D", "-", "-X", method, "--max-time", "30", url]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    out = lab.exec("client", argv, timeout=40).stdout  # text mode: CRLF arrives as LF
    head, _, body = out.partition("\n\n")
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    return status, fields, body


@pytest.fixture(scope="module")
def serve_lab(lab_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not BLACKBOX:
        pytest.fail("prometheus-blackbox-exporter is missing: run scripts/install-deps")
    tmp = tmp_path_factory.mktemp("serve")
    modules = tmp / "modules.yml"
    modules.write_text(MODULES)
    allow = tmp / "allow.yml"
    allow.write_text(MODULES + "allow:\n  networks: [198.51.100.8/30]\n  names: [server.lab]\n")
    with Lab(demo(), name="serve") as lab:
        procs = []
        try:
            bb = spawn(
                lab,
                [
                    BLACKBOX,
                    f"--config.file={modules}",
                    f"--web.listen-address=127.0.0.1:{BB_PORT}",
                ],
                tmp / "blackbox.log",
            )
            procs.append(bb)
            nl = spawn(
                lab,
                [NETLADDER, "serve", "--config", str(modules), "--listen", f"127.0.0.1:{NL_PORT}"],
                tmp / "netladder.log",
            )
            procs.append(nl)
            nl_allow = spawn(
                lab,
                [
                    NETLADDER,
                    "serve",
                    "--config",
                    str(allow),
                    "--listen",
                    f"127.0.0.1:{NL_ALLOW_PORT}",
                ],
                tmp / "netladder-allow.log",
            )
            procs.append(nl_allow)
            wait_ready(lab, f"http://127.0.0.1:{BB_PORT}/-/healthy", bb, "blackbox_exporter")
            wait_ready(lab, f"http://127.0.0.1:{NL_PORT}/-/healthy", nl, "netladder serve")
            wait_ready(lab, f"http://127.0.0.1:{NL_ALLOW_PORT}/-/healthy", nl_allow, "netladder")
            # The processes answering are ours, not some other instance.
            assert (
                "blackbox_exporter_build_info"
                in fetch(lab, f"http://127.0.0.1:{BB_PORT}/metrics")[2]
            )
            assert "netladder_build_info" in fetch(lab, f"http://127.0.0.1:{NL_PORT}/metrics")[2]
            yield lab
        finally:
            for proc in procs:
                stop(proc)


def probe_both(lab: Lab, module: str, target: str) -> tuple[str, str]:
    query = f"/probe?module={module}&target={quote(target, safe='')}"
    with ThreadPoolExecutor(2) as pool:
        bb = pool.submit(fetch, lab, f"http://127.0.0.1:{BB_PORT}{query}")
        nl = pool.submit(fetch, lab, f"http://127.0.0.1:{NL_PORT}{query}")
        bb_status, _, bb_body = bb.result()
        nl_status, _, nl_body = nl.result()
    assert bb_status == nl_status == 200
    return bb_body, nl_body


@pytest.mark.parametrize(("module", "target", "success"), CASES)
def test_probe_answers_as_blackbox_does(
    serve_lab: Lab, module: str, target: str, success: int
) -> None:
    bb_text, nl_text = probe_both(serve_lab, module, target)
    bb, nl = parse_metrics(bb_text), parse_metrics(nl_text)
    # The scenario is what it claims to be, for the anchor first.
    assert bb[("probe_success", ())] == success, bb_text
    bb_series = set(bb)
    nl_series = {key for key in nl if key[0] not in NETLADDER_ONLY}
    assert nl_series == bb_series, f"blackbox:\n{bb_text}\nnetladder:\n{nl_text}"
    for key, value in bb.items():
        if key[0] in TIMING:
            assert nl[key] >= 0
            continue
        assert nl[key] == value, f"{key}: blackbox {value}, netladder {nl[key]}\n{nl_text}"
    failure = [k for k in nl if k[0] == "probe_failure_info"]
    assert bool(failure) == (not success)


def test_a_failing_probe_names_its_layer_and_a_fixed_reason(serve_lab: Lab) -> None:
    cases: dict[tuple[str, str], tuple[str, str | tuple[str, ...]]] = {
        ("http_2xx", f"http://{SERVER}:81/"): ("l4", "refused"),
        ("http_2xx", f"http://{SERVER}/status/404"): ("l7", "status_code"),
        # Nobody holds EMPTY_LAN: the echo is silent until the router's ARP for it fails (3 s),
        # and answered "host unreachable" at once while that failure is cached — which of the
        # two a probe meets depends on what probed it last (random order), so both are right.
        ("icmp", EMPTY_LAN): ("l3", ("no_reply", "unreachable")),
        ("dns_nx", SERVER): ("dns", "rcode"),
        ("tcp_connect", f"{SERVER}:23"): ("l4", "refused"),
    }
    for (module, target), (layer, reasons) in cases.items():
        url = f"http://127.0.0.1:{NL_PORT}/probe?module={module}&target={quote(target, safe='')}"
        metrics = parse_metrics(fetch(serve_lab, url)[2])
        named = [k for k in metrics if k[0] == "probe_failure_info"]
        options = (reasons,) if isinstance(reasons, str) else reasons
        keys = [("probe_failure_info", (("layer", layer), ("reason", r))) for r in options]
        assert len(named) == 1 and named[0] in keys, (module, target, metrics)
        assert metrics[named[0]] == 1


BAD_QUERIES = [
    ("/probe?module=nope&target=x", {}),
    ("/probe?module=nope", {}),
    ("/probe?module=icmp", {}),
    ("/probe", {}),
    ("/probe?target=x", {"X-Prometheus-Scrape-Timeout-Seconds": "abc"}),
    ("/probe", {"X-Prometheus-Scrape-Timeout-Seconds": "1e400"}),
    ("/probe?module=nope", {"X-Prometheus-Scrape-Timeout-Seconds": "abc"}),
    (f"/probe?module=http_host&target={SERVER}&hostname=api.lab", {}),
    ("/-/healthy", {}),
    ("/logs?id=x", {}),
    ("/logs?id=99999", {}),
]


@pytest.mark.parametrize(("path", "headers"), BAD_QUERIES)
def test_bad_queries_answer_as_blackbox_does(
    serve_lab: Lab, path: str, headers: dict[str, str]
) -> None:
    bb = fetch(serve_lab, f"http://127.0.0.1:{BB_PORT}{path}", headers)
    nl = fetch(serve_lab, f"http://127.0.0.1:{NL_PORT}{path}", headers)
    assert (nl[0], nl[2]) == (bb[0], bb[2])
    assert nl[1].get("content-type") == bb[1].get("content-type")


def test_reload_wants_post_as_blackbox_does(serve_lab: Lab) -> None:
    bb = fetch(serve_lab, f"http://127.0.0.1:{BB_PORT}/-/reload")
    nl = fetch(serve_lab, f"http://127.0.0.1:{NL_PORT}/-/reload")
    assert (nl[0], nl[2]) == (bb[0], bb[2]) == (405, "This endpoint requires a POST request.\n")
    assert fetch(serve_lab, f"http://127.0.0.1:{NL_PORT}/-/reload", method="POST")[0] == 200


def test_a_target_outside_the_allowlist_is_refused(serve_lab: Lab) -> None:
    base = f"http://127.0.0.1:{NL_ALLOW_PORT}/probe"
    refused = fetch(serve_lab, f"{base}?module=tcp_connect&target=198.51.100.66:80")
    assert refused[0] == 403
    assert "not allowed" in refused[2]
    # A name is refused unless it is on the list or resolves into an allowed network: www.lab
    # resolves to 2001:db8:3::2 first (ip6 preferred), outside 198.51.100.8/30.
    assert fetch(serve_lab, f"{base}?module=icmp&target=www.lab")[0] == 403
    # Allowed: an address in the network, a name on the list.
    for target in (f"{SERVER}:22", "server.lab:22"):
        ok = fetch(serve_lab, f"{base}?module=tcp_connect&target={target}")
        assert ok[0] == 200
        assert parse_metrics(ok[2])[("probe_success", ())] == 1
    metrics = parse_metrics(fetch(serve_lab, f"http://127.0.0.1:{NL_ALLOW_PORT}/metrics")[2])
    assert metrics[("netladder_probes_refused_total", ())] == 2


def _readme_block(marker: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert m, f"README has no block marked {marker}"
    return m.group(1)


def test_prometheus_scrapes_netladder_with_the_readme_job(serve_lab: Lab, tmp_path: Path) -> None:
    import yaml

    if not PROMETHEUS:
        pytest.fail("prometheus is missing: run scripts/install-deps")
    job = yaml.safe_load(_readme_block("scrape-job"))
    assert isinstance(job, list) and job[0]["relabel_configs"], job
    # The README's job as written, with the lab's targets in its static_configs.
    job[0]["static_configs"] = [{"targets": [f"http://{SERVER}/", f"http://{SERVER}:81/"]}]
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": job}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = spawn(
        serve_lab,
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{PROM_PORT}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        api = f"http://127.0.0.1:{PROM_PORT}/api/v1/query?query="
        wait_ready(serve_lab, f"http://127.0.0.1:{PROM_PORT}/-/ready", prom, "prometheus")
        deadline = time.monotonic() + 90
        results: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            body = fetch(serve_lab, api + "probe_success")[2]
            results = json.loads(body)["data"]["result"]
            if len(results) == 2:
                break
            time.sleep(0.5)
        by_instance = {r["metric"]["instance"]: r for r in results}  # type: ignore[index]
        assert set(by_instance) == {f"http://{SERVER}/", f"http://{SERVER}:81/"}, results
        assert by_instance[f"http://{SERVER}/"]["value"][1] == "1"  # type: ignore[index]
        assert by_instance[f"http://{SERVER}:81/"]["value"][1] == "0"  # type: ignore[index]
        # The probe's own series come through with the job's labels.
        status = json.loads(fetch(serve_lab, api + "probe_http_status_code")[2])["data"]["result"]
        codes = {r["metric"]["instance"]: r["value"][1] for r in status}
        assert codes == {f"http://{SERVER}/": "200", f"http://{SERVER}:81/": "0"}
        assert all(r["metric"]["job"] == job[0]["job_name"] for r in status)
    finally:
        stop(prom)
