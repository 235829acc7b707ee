from gis.zones import UnitInputs, ZoneRules, aggregate, rank, score_unit

RULES = ZoneRules(
    weights=(
        ("labour_demand", 0.35),
        ("quota_headroom", 0.2),
        ("infrastructure", 0.3),
        ("population_trend", 0.15),
    ),
)
FULL = {"school": True, "clinic": True, "housing": True, "transport": True}


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
    assert "infrastructure_missing" in ranked[1].caps and ranked[1].zone != "A"


def test_infrastructure_first_caps_at_b_even_with_a_high_score() -> None:
    z = score_unit(
        unit("1", labour_demand=5, population_trend=5, infrastructure={**FULL, "transport": False}),
        RULES,
    )
    assert z.score >= RULES.a_min and z.zone == "B"


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
