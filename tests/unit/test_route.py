from monitor.ingest.route import Router


def test_cashtags_hashtags_keywords_explicit():
    r = Router({"acme": ["Acme Corp", "re:acme\\s*phone"]}, catch_all="_all")
    got = r.topics("Short $TSLA and $aapl now! #Earnings, acme phone broke. Costs $5", ["Brand-X"])
    assert got == ["Brand-X", "TSLA", "AAPL", "earnings", "acme"]


def test_no_match_goes_to_catch_all():
    assert Router({}, catch_all="misc").topics("nothing to see") == ["misc"]
    assert Router({}, catch_all="misc").topics(None) == ["misc"]


def test_keyword_is_word_bounded_and_case_insensitive():
    r = Router({"meta": ["Meta"]})
    assert r.topics("META shares up") == ["meta"]
    assert r.topics("metadata is boring") == ["_all"]


def test_duplicates_removed_and_prefixes_normalised():
    assert Router({}).topics("$AAPL $AAPL #aapl", ["$AAPL"]) == ["AAPL", "aapl"]


def test_share_class_cashtags_keep_their_suffix():
    """Detection v3 (g): $BRK-A / $RDS-B routed to BRK / RDS, mixing two securities."""
    r = Router()
    assert r.topics("$BRK-A and $RDS-B up, $BRK.B too") == ["BRK-A", "RDS-B", "BRK.B"]
    assert r.topics("$AAPL- what a day; $MSFT.") == ["AAPL", "MSFT"]
