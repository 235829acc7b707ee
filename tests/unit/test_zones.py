from gis.zones import UnitInputs, ZoneRules, aggregate, rank, score_unit

RULES = ZoneRules(
    weights=(
        ("labour_demand", 0.35),
        ("quota_headroom", 0.2),
        ("infrastructure", 0.3),
        ("population_trend", 0.15),
    ),
)
FULL = {
    "school": True,
    "kindergarten": True,
    "clinic": True,
    "housing": True,
    "utilities": True,
    "transport": True,
}


def unit(kato: str, **over: object) -> UnitInputs:
    base = dict(
        kato=kato,
        name=kato,
        labour_demand=1.8,
        quota_headroom=0.9,
        infrastructure=dict(FULL),
        population_trend=1.0,
        designated=True,
        listed=True,
    )
    base.update(over)
    return UnitInputs(**base)  # type: ignore[arg-type]


def test_equipped_settlement_outranks_one_without_clinic() -> None:
    ranked = rank([unit("2"), unit("1", infrastructure={**FULL, "clinic": False})], RULES)
    assert [z.kato for z in ranked] == ["2", "1"]
    assert ranked[0].zone == "A"
    assert ranked[1].caps == ["infrastructure"] and ranked[1].zone == "D"


def test_infrastructure_first_closes_a_settlement_whatever_its_score() -> None:
    """Rule 5 is strict: a settlement known to lack any item is zone D."""
    z = score_unit(
        unit("1", labour_demand=5, population_trend=5, infrastructure={**FULL, "utilities": False}),
        RULES,
    )
    assert z.score >= RULES.b_min and z.zone == "D" and z.caps == ["infrastructure"]


def test_unknown_infrastructure_is_no_data_not_lacking() -> None:
    nothing = {k: None for k in FULL}
    z = score_unit(unit("1", infrastructure=nothing), RULES)
    assert z.caps == ["no_data"] and z.zone != "D"
    assert z.components["infrastructure"]["value"] is None
    # One item unknown, the rest present: still a full, open settlement.
    partly = score_unit(unit("2", infrastructure={**FULL, "kindergarten": None}), RULES)
    assert partly.caps == [] and partly.zone == "A"


def test_a_region_where_some_settlements_lack_it_is_at_best_b() -> None:
    members = [unit("1"), unit("2", infrastructure={**FULL, "clinic": False})]
    region = aggregate("10", "R", members, designated=True, quota_headroom=0.9)
    z = score_unit(region, RULES)
    assert "infrastructure_missing" in z.caps and z.zone in ("B", "C")


def test_policy_caps_close_a_place() -> None:
    assert score_unit(unit("1", designated=False), RULES).zone == "D"
    assert score_unit(unit("1", listed=False), RULES).zone == "D"
    assert score_unit(unit("1", quota_headroom=0.0), RULES).zone == "D"
    assert score_unit(unit("1", quota_headroom=None), RULES).caps == ["quota_exhausted"]


def test_components_add_up_to_the_score() -> None:
    z = score_unit(unit("1"), RULES)
    assert abs(sum(c["points"] for c in z.components.values()) - z.score) < 0.05
    assert set(z.components) == {
        "labour_demand",
        "quota_headroom",
        "infrastructure",
        "population_trend",
    }
    assert 0 <= z.score <= 100


def test_ranking_is_deterministic_with_ties_broken_by_kato() -> None:
    units = [unit(str(k)) for k in (5, 3, 9, 1)]
    first = [z.kato for z in rank(units, RULES)]
    assert first == ["1", "3", "5", "9"] == [z.kato for z in rank(list(reversed(units)), RULES)]
    assert [z.rank for z in rank(units, RULES)] == [1, 2, 3, 4]


def test_region_aggregate() -> None:
    members = [unit("1", labour_demand=1.0), unit("2", labour_demand=2.0, listed=False)]
    region = aggregate("10", "R", members, designated=True, quota_headroom=0.5)
    assert region.labour_demand == 1.5 and region.listed is True
    assert region.infrastructure["clinic"] == 1.0
