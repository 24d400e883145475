"""Incident page and live table rendering (pure) and the bounded store: attacker-controlled text is escaped."""

import asyncio

from monitor.ui import pages
from monitor.ui.store import Store

XSS = "<script>document.body.setAttribute('data-pwned','1')</script><img src=x onerror=\"alert(1)\">"
T0 = 1_764_410_400_000


def window(topic, i, n=40, neg=8):
    return {"topic": topic, "kind": "tumbling", "start_ms": T0 + i * 60_000, "end_ms": T0 + (i + 1) * 60_000, "n": n,
            "negatives": neg, "neutrals": n - neg, "positives": 0, "negative_rate": neg / n, "mean_score": 0.0,
            "unscored": 0, "closed_at_ms": 0, "top_negative": [], "negative_by_modality": {}, "negative_terms": {}}


def alert(status, topic=XSS):
    return {"fingerprint": "fp/1?x", "topic": topic, "signal": "negative_rate", "status": status,
            "startsAt": "2025-11-29T10:10:00Z", "endsAt": "2025-11-29T10:14:00Z" if status == "resolved" else None,
            "window": {"start": "2025-11-29T10:10:00Z", "end": "2025-11-29T10:11:00Z", "n": 40, "negatives": 30},
            "observed_rate": 0.75, "baseline_rate": 0.2, "onset": "2025-11-29T10:10:00Z", "summary": XSS,
            "top_posts": [{"id": "p", "p_negative": 0.9, "text": XSS, "source": "x"}],
            "rising_terms": [{"term": XSS, "count": 3, "lift": 4.0}], "modalities": {XSS: 3},
            "dashboardURL": "javascript:alert(1)", "runbook_url": "docs/runbooks/negative-rate.md"}


def filled_store() -> Store:
    st = Store()
    for i in range(20):
        st.add_window(window("ACME", i, neg=30 if 10 <= i < 12 else 8))
        st.add_window(window(XSS, i))
    st.add_window({**window("ACME", 30), "kind": "hopping"})  # ignored
    st.add_alert(alert("firing", "ACME"))
    st.add_post({"id": "n1", "topics": ["ACME"], "event_ms": T0 + 10 * 60_000, "label": "negative", "source": "bsky",
                 "text": XSS, "modalities": ["text", "image"], "probs": {"negative": 0.93},
                 "evidence": {"ocr": "<b>SELL</b>"}})
    st.add_post({"id": "p1", "topics": ["ACME"], "event_ms": T0, "label": "positive", "text": "nice"})
    return st


def test_store_round_trip_and_prune():
    st = filled_store()
    topics = {t["topic"]: t for t in st.topics()}
    assert set(topics) == {"ACME", XSS} and len(topics["ACME"]["windows"]) == 20
    assert topics["ACME"]["firing"] == "fp/1?x" and topics[XSS]["firing"] is None
    inc = st.incident("fp/1?x")
    assert inc["topic"] == "ACME" and inc["resolved"] is None
    assert [p["id"] for p in st.negative_posts("ACME", T0, T0 + 3_600_000)] == ["n1"]  # negatives only
    st.add_post({"id": "n2", "topics": ["ACME"], "event_ms": T0 + 1, "label": "negative", "text": XSS.upper(),
                 "probs": {"negative": 0.5}})  # a repost (same text, other case): folded into n1's row
    assert [(p["id"], p["count"]) for p in st.negative_posts("ACME", T0, T0 + 3_600_000)] == [("n1", 2)]
    st.add_alert(alert("resolved", "ACME"))
    acme = next(t for t in st.topics() if t["topic"] == "ACME")
    assert st.incident("fp/1?x")["resolved"] and acme["firing"] is None
    st.prune(T0 + 100 * 3_600_000)
    assert st.topics() == [] and st.negative_posts("ACME", 0, 2 * T0) == []
    assert st.incident("fp/1?x") is None and st.alerts() == []  # both rows of the resolved incident left
    st.add_alert(alert("firing", "OLD"))  # firing, never resolved, started long before the cut: stale
    st.prune(T0 + 100 * 3_600_000)
    assert st.alerts() == []


def test_pages_escape_everything_from_the_stream():
    st = filled_store()
    index = pages.index_page(st.topics(), st.alerts())
    inc = st.incident("fp/1?x")
    page = pages.incident_page(inc, st.windows_between("ACME", T0, T0 + 3_600_000),
                               st.negative_posts("ACME", T0, T0 + 3_600_000))
    for html in (index, page):
        assert "<script>document" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
    assert "/incidents/fp%2F1%3Fx" in index  # fingerprint quoted into the URL
    assert "&lt;b&gt;SELL&lt;/b&gt;" in page and "<svg id=\"chart\"" in page and "baseline 20%" in page
    assert page.count("<script") == 1  # only the page's own /static/app.js
    other = pages.incident_page({**inc, "firing": alert("firing")}, [], [])
    assert "&lt;script&gt;" in other and "<script>document" not in other  # the alert's own strings, too
    assert "javascript:" not in other and 'href="/runbooks/negative-rate"' in other  # unsafe link dropped
    odd = {**alert("firing"), "modalities": {"text": "many"}, "baseline_rate": "?", "onset": 5,
           "top_posts": [{"p_negative": "high", "text": "x"}]}
    assert "many" in pages.incident_page({**inc, "firing": odd}, [], [{"probs": {"negative": "x"}, "text": "t"}])


def test_topic_row_and_server_headers():
    st = filled_store()
    row = pages.topic_row(next(t for t in st.topics() if t["topic"] == "ACME"))
    assert row["n"] == 40 and row["neg1"] == 0.2 and row["neg5"] == 0.2 and row["state"] == "firing"
    assert len(row["spark"]) == 20

    from aiohttp.test_utils import TestClient, TestServer

    from monitor.ui.server import build_app

    async def go():
        async with TestClient(TestServer(build_app(st, token="s3cret"))) as c:
            r = await c.get("/")
            assert r.status == 401 and "default-src 'none'" in r.headers["Content-Security-Policy"]
            r = await c.get("/?token=s3cret")
            assert r.status == 200 and "ACME" in await r.text()
            r = await c.get("/api/topics")  # the cookie set above
            assert r.status == 200 and {x["topic"] for x in await r.json()} == {"ACME", XSS}
            r = await c.get("/incidents/nope")
            assert r.status == 404
            r = await c.get("/static/app.js")
            assert r.status == 200 and "textContent" in await r.text()

    asyncio.run(go())


def test_alerts_link_to_the_incident_page():
    from monitor.alert.payload import alertmanager_payload
    from monitor.detect.engine import Controls, links

    got = links(Controls(ui_base_url="http://ui.example:8090/", dashboard_url="http://g/d"), "AAPL", "negative_rate",
                0, 60_000, "ab/c")
    assert got["incident_url"] == "http://ui.example:8090/incidents/ab%2Fc" and got["dashboardURL"].startswith("http://g")
    assert links(Controls(), "AAPL", "volume", 0, 60_000, "x")["incident_url"] == ""
    rec = {**alert("firing", "AAPL"), **got, "fingerprint": "ab/c", "p_value": 1e-9, "score": 0.5}
    payload = alertmanager_payload(rec)
    assert payload["alerts"][0]["generatorURL"] == got["incident_url"]
