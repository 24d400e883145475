"""Issue #31 (4, 5): the live page's order and folding, the incidents index and its filter, the incident page's facts
in words (percentages, peak, duration, posts involved, evidence), its time axis and labels, the runbooks served by
the UI, and rising terms ranked by log-odds with an informative prior."""

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.detect.engine import rising_terms
from monitor.ui import pages
from monitor.ui.fmt import duration, evidence_text, pct
from monitor.ui.incident import incident_page, runbook_link, time_ticks
from monitor.ui.server import build_app, incident_html
from monitor.ui.store import Store
from monitor.ui.terms import log_odds, rising

T0 = 1_764_410_400_000  # 2025-11-29 10:00 UTC
MIN = 60_000


def iso(ms: int) -> str:
    from monitor.detect.engine import iso as engine_iso

    return engine_iso(ms)


def window(topic: str, i: int, n: int = 40, neg: int = 8, terms: dict | None = None) -> dict:
    return {"topic": topic, "kind": "tumbling", "start_ms": T0 + i * MIN, "end_ms": T0 + (i + 1) * MIN, "n": n,
            "negatives": neg, "neutrals": n - neg, "positives": 0, "negative_rate": neg / n if n else 0.0,
            "mean_score": 0.0, "unscored": 0, "closed_at_ms": 0, "top_negative": [], "negative_by_modality": {},
            "negative_terms": terms or {}}


def alert(status: str, topic: str = "ACME", fp: str = "fp-1", start: int = 60, fired: int = 62, end: int = 70,
          signal: str = "negative_rate") -> dict:
    return {"fingerprint": fp, "topic": topic, "signal": signal, "status": status, "startsAt": iso(T0 + start * MIN),
            "endsAt": iso(T0 + end * MIN) if status == "resolved" else None,
            "window": {"start": iso(T0 + (fired - 1) * MIN), "end": iso(T0 + fired * MIN), "n": 40, "negatives": 28},
            "observed_rate": 0.7, "baseline_rate": 0.2, "peak_rate": 0.825, "onset": iso(T0 + start * MIN),
            "evidence_digits": 3.8225, "confidence": "high", "time_to_detect_s": 120.0,
            "summary": f"negative share of {topic} 70% vs baseline 20%",
            "top_posts": [{"id": "t1", "p_negative": 0.97, "text": "alert top post", "source": "bsky"}],
            "rising_terms": [{"term": "recall", "count": 2, "lift": 2.0}, {"term": "brakes", "count": 2, "lift": 2.0}],
            "modalities": {}, "dashboardURL": "", "runbook_url": "docs/runbooks/negative-rate.md"}


def incident_store() -> Store:
    """ACME: an hour of calm windows, an incident from minute 60 to 70 whose negative posts say "recall"."""
    st = Store()
    for i in range(80):
        spike = 60 <= i < 66
        terms = ({"recall": 12 + i - 60, "brakes": 6, "price": 3, "stock": 4} if spike
                 else {"price": 3, "stock": 4, "brakes": 1 if i % 7 == 0 else 0})
        st.add_window(window("ACME", i, n=40 + (30 if spike else 0), neg=33 if i == 63 else (28 if spike else 8),
                             terms={k: v for k, v in terms.items() if v}))
    st.add_alert(alert("firing"))
    st.add_alert(alert("resolved"))
    st.add_post({"id": "n1", "topics": ["ACME"], "event_ms": T0 + 61 * MIN, "label": "negative", "source": "bsky",
                 "text": "ACME recall: brakes fail", "modalities": ["text"], "probs": {"negative": 0.96}})
    return st


# ---- the live page ------------------------------------------------------------------------------------------------
def live_topics() -> list[dict]:
    st = Store()
    for i in range(100, 105):
        st.add_window(window("BIG", i, n=90))
        st.add_window(window("small", i, n=5, neg=1))
        st.add_window(window("FIRE", i, n=3, neg=3))
    st.add_window(window("aaa-quiet", 10, n=50))  # 90 minutes before the stream's newest window
    st.add_window(window("zero", 104, n=0, neg=0))  # a window, but no post
    st.add_alert(alert("firing", topic="FIRE", fp="fire-1"))
    return st.topics()


def test_live_rows_firing_first_then_by_volume_quiet_topics_folded():
    rows = pages.topic_rows(live_topics())
    assert [r["topic"] for r in rows if not r["quiet"]] == ["FIRE", "BIG", "small"]
    assert {r["topic"] for r in rows if r["quiet"]} == {"aaa-quiet", "zero"}
    assert next(r for r in rows if r["topic"] == "BIG")["n_hour"] == 450
    html = pages.index_page(live_topics(), [alert("firing", topic="FIRE", fp="fire-1")])
    main, folded = html.split("<details id=\"quiet\"", 1)
    assert main.index(">FIRE<") < main.index(">BIG<") < main.index(">small<") and "aaa-quiet" not in main
    assert "quiet topics (<span id=\"quiet-count\">2</span>)" in folded and ">aaa-quiet<" in folded
    # recent alert state changes at the top, before the table, refreshed by the script from /api/alerts
    assert html.index("Recent alert state changes") < html.index("<table id=\"topics\"")
    assert "data-api=\"/api/alerts\"" in html and "href=\"/incidents\"" in html


def test_no_windows_yet_until_the_first_window_and_the_script_keeps_it():
    html = pages.index_page([], [])
    assert "no windows yet" in html and "<details id=\"quiet\" hidden>" in html
    from monitor.ui.server import STATIC

    script = (STATIC / "app.js").read_text()
    assert "no windows yet" in script and "showAlerts" in script
    assert "quiet-topics" in script and ".innerHTML" not in script


# ---- formatting ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [(0.7, "70%"), (0.825, "82%"), (0.004, "0.4%"), (0, "0%"), (1, "100%"),
                                            (None, "—"), ("<b>", "&lt;b&gt;")])
def test_percentages(value, text):
    assert pct(value) == text


@pytest.mark.parametrize(("ms", "text"), [(45_000, "45 s"), (12 * MIN, "12 min"), (90_000, "1 min 30 s"),
                                         (65 * MIN, "1 h 05 min"), (26 * 60 * MIN, "1 d 2 h"), (None, "—"),
                                         (-5, "—")])
def test_durations(ms, text):
    assert duration(ms) == text


def test_evidence_in_words():
    assert evidence_text(3.8225) == "p ≈ 1.5×10⁻⁴ (3.8 digits of evidence)"
    assert evidence_text(12.0) == "p ≈ 1.0×10⁻¹² (12.0 digits of evidence)"
    assert evidence_text(1.3).startswith("p ≈ 0.05") and evidence_text(None) == "—"


# ---- rising terms -------------------------------------------------------------------------------------------------
def test_log_odds_ranks_the_term_that_rose_first_with_distinct_scores():
    before = {"price": 300, "stock": 400, "brakes": 20, "recall": 1, "ceo": 50}
    during = {"price": 30, "stock": 38, "brakes": 15, "recall": 40, "ceo": 9}
    ranked = log_odds(during, before)
    assert [t["term"] for t in ranked][:2] == ["recall", "brakes"]
    assert len({t["z"] for t in ranked}) == len(ranked) and all(t["z"] > 0 for t in ranked)
    assert "stock" not in [t["term"] for t in ranked]  # fell in share: not rising
    assert log_odds({}, before) == [] and log_odds({"only": 5}, {}) == []  # nothing to compare with: no rise


def test_incident_terms_do_not_tie_where_the_detector_lift_does():
    st = incident_store()
    windows = st.windows_between("ACME", T0, T0 + 100 * MIN)
    spike = next(w for w in windows if w["start_ms"] == T0 + 60 * MIN)
    detector = rising_terms({"recall": 2, "brakes": 2, "price": 2}, {})
    assert len({t["lift"] * t["count"] for t in detector}) == 1  # the detector's own ranking: all tie
    ranked = rising(windows, T0 + 60 * MIN, T0 + 70 * MIN)
    assert ranked[0]["term"] == "recall" and len({t["z"] for t in ranked}) == len(ranked)
    assert spike["negative_terms"]["recall"] == 12
    page, status = incident_html(st, "fp-1", now_ms=T0 + 200 * MIN)
    terms = page.split("<ol id=\"terms\">", 1)[1]
    assert status == 200 and terms.index("recall") < terms.index("brakes") and "(z " in terms


# ---- the incident page --------------------------------------------------------------------------------------------
def facts_of(page: str) -> dict[str, str]:
    return dict(re.findall(r"<dd id=\"fact-([a-z]+)\">([^<]*)</dd>", page))


def test_incident_page_facts_in_words():
    page, _ = incident_html(incident_store(), "fp-1", now_ms=T0 + 200 * MIN)
    f = facts_of(page)
    assert f["observed"] == "70%" and f["baseline"] == "20%" and f["peak"] == "82%"
    assert f["duration"] == "8 min" and f["fired"] == "2025-11-29 11:02 UTC" and f["resolved"].endswith("11:10 UTC")
    assert f["posts"] == "205 negative of 580 posts in 10 windows"  # 60..69: 6 x 70 spike + 4 x 40
    assert f["evidence"].startswith("p ≈ 1.5×10⁻⁴") and f["ttd"] == "2 min"
    assert "0.7<" not in page and "3.8225" not in page


def test_a_firing_incident_lasts_until_now():
    st = Store()
    st.add_window(window("ACME", 60))
    st.add_alert(alert("firing"))
    page, _ = incident_html(st, "fp-1", now_ms=T0 + 92 * MIN)
    f = facts_of(page)
    assert f["duration"] == "30 min so far" and f["resolved"] == "still going" and f["status"] == "firing"


def test_chart_axis_ticks_volume_scale_and_labels_that_do_not_overlap():
    page, _ = incident_html(incident_store(), "fp-1", now_ms=T0 + 200 * MIN)
    ticks = re.findall(r"<text class=\"tick\"[^>]*>(\d\d:\d\d)</text>", page)
    assert len(ticks) >= 3 and ticks == sorted(ticks) and "10:00" in ticks
    assert "posts/window" in page and re.findall(r"<text class=\"vtick\"[^>]*>(\d+)</text>", page)[-1] == "100"
    ys = {label: float(y) for y, label in
          re.findall(r"<text class=\"mark\" x=\"[\d.]+\" y=\"([\d.]+)\"[^>]*>(onset|fired|resolved)", page)}
    assert set(ys) == {"onset", "fired", "resolved"} and len(set(ys.values())) == 3
    assert time_ticks(T0, T0 + 95 * MIN) == [T0 + k * 15 * MIN for k in range(7)]


def test_columns_and_sections_only_when_they_hold_something():
    st = incident_store()
    page, _ = incident_html(st, "fp-1", now_ms=T0 + 200 * MIN)
    assert "OCR text / transcript" not in page and "Which modality carried it" not in page
    assert "ACME recall: brakes fail" in page and "96%" in page
    st.add_post({"id": "n2", "topics": ["ACME"], "event_ms": T0 + 62 * MIN, "label": "negative", "text": "see pic",
                 "probs": {"negative": 0.9}, "evidence": {"ocr": "RECALL NOTICE"}})
    page, _ = incident_html(st, "fp-1", now_ms=T0 + 200 * MIN)
    assert "OCR text / transcript" in page and "RECALL NOTICE" in page
    inc = st.incident("fp-1")
    bare = incident_page({**inc, "firing": {**alert("firing"), "rising_terms": [], "top_posts": []}}, [], [])
    assert "Rising terms" not in bare and "no negative posts recorded" in bare


def test_runbook_links():
    assert runbook_link("docs/runbooks/negative-rate.md") == "/runbooks/negative-rate"
    assert runbook_link("https://wiki.example/runbooks/volume.md") == "https://wiki.example/runbooks/volume.md"
    assert runbook_link("javascript:alert(1)") is None and runbook_link("") is None


# ---- the app: /incidents, /runbooks, the APIs ---------------------------------------------------------------------
def index_store() -> Store:
    st = Store()
    st.add_alert(alert("firing", "AAPL", "old", start=10, fired=11))
    st.add_alert(alert("resolved", "AAPL", "old", start=10, fired=11, end=15))
    st.add_alert(alert("firing", "AAPL", "new", start=50, fired=51))
    st.add_alert(alert("resolved", "AAPL", "new", start=50, fired=51, end=55))
    st.add_alert(alert("firing", "AAPL", "now", start=30, fired=31))  # still firing: first, though older
    st.add_alert(alert("firing", "TSLA", "tsla", start=40, fired=41, signal="volume"))
    for i in range(3):
        st.add_window(window("AAPL", 100 + i, n=10))
        st.add_window(window("TSLA", 100 + i, n=500))
        st.add_window(window("MSFT", 100 + i, n=900))
    return st


def test_incidents_index_order_filter_runbooks_and_apis():
    async def go() -> None:
        async with TestClient(TestServer(build_app(index_store()))) as c:
            r = await c.get("/incidents")
            body = await r.text()
            assert r.status == 200
            order = re.findall(r"href=\"/incidents/([a-z]+)\"", body)
            assert order == ["tsla", "now", "new", "old"]  # firing (newest first), then resolved (newest first)
            r = await c.get("/incidents", params={"topic": "AAPL"})
            assert re.findall(r"href=\"/incidents/([a-z]+)\"", await r.text()) == ["now", "new", "old"]
            assert "no incidents of NOPE" in await (await c.get("/incidents?topic=NOPE")).text()
            r = await c.get("/runbooks/negative-rate")
            assert r.status == 200 and "<h1>Runbook: negative-rate alert" in await r.text()
            assert (await c.get("/runbooks/volume.md")).status == 200
            for bad in ("nope", "..%2F..%2Fpyproject", "%2e%2e%2fREADME", "..%2Fnegative-rate", "negative-rate%00"):
                assert (await c.get(f"/runbooks/{bad}")).status == 404, bad
            topics = await (await c.get("/api/topics")).json()
            assert [t["topic"] for t in topics] == ["TSLA", "AAPL", "MSFT"]  # firing first, each part by volume
            alerts = await (await c.get("/api/alerts")).json()
            assert alerts[0]["fingerprint"] in ("new", "old") and alerts[0]["at"].endswith(" UTC")

    asyncio.run(go())


def test_runbooks_folder_is_configurable_and_traversal_stays_inside(tmp_path):
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "volume.md").write_text("# Volume <script>x</script>\n\n1. **look** at `it`\n")
    (tmp_path / "secret.md").write_text("# secret\n")

    async def go() -> None:
        async with TestClient(TestServer(build_app(Store(), runbooks_dir=tmp_path / "books"))) as c:
            r = await c.get("/runbooks/volume")
            text = await r.text()
            assert r.status == 200 and "&lt;script&gt;" in text and "<strong>look</strong>" in text
            assert (await c.get("/runbooks/negative-rate")).status == 404  # not in this folder
            assert (await c.get("/runbooks/..%2Fsecret")).status == 404

    asyncio.run(go())
