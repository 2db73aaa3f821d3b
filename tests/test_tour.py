"""Tests for the walkabout ordering core in geodata.tour (no database, no web)."""
from __future__ import annotations

import functools
import itertools
import math
import time

import numpy as np
import pytest

from geodata import tour

CENTRE = (116.31, 39.94)


def _points(seed: int, n: int, spread_deg: float = 0.01) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    xy = np.column_stack([CENTRE[0] + rng.uniform(-spread_deg, spread_deg, n + 1),
                          CENTRE[1] + rng.uniform(-spread_deg, spread_deg, n + 1)])
    pts = [(float(x), float(y)) for x, y in xy]
    return pts[0], pts[1:]


@functools.lru_cache(maxsize=None)
def _permutations(n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(1, n + 1))), dtype=np.intp)


def _brute_force(d: np.ndarray, closed: bool) -> float:
    """The exact optimum over every visiting order of the stops (node 0 is the start), vectorised."""
    perms = _permutations(d.shape[0] - 1)
    lengths = d[0, perms[:, 0]] + d[perms[:, :-1], perms[:, 1:]].sum(axis=1)
    if closed:
        lengths = lengths + d[perms[:, -1], 0]
    return float(lengths.min())


def _length(d: np.ndarray, order: list[int], closed: bool) -> float:
    nodes = [0] + [i + 1 for i in order] + ([0] if closed and order else [])
    return sum(float(d[a, b]) for a, b in zip(nodes, nodes[1:]))


def _check_consistent(t: tour.Tour, start, stops, *, speed_kmh=tour.DEFAULT_SPEED_KMH,
                      dwell_min=tour.DEFAULT_DWELL_MIN, detour=tour.DEFAULT_DETOUR) -> None:
    """Legs chain from the start through `order`, and every total is the sum of its legs."""
    assert sorted(t.order + t.left_out) == list(range(len(stops)))
    assert len(set(t.order)) == len(t.order)
    chain = [None] + list(t.order) + ([None] if t.closed and t.order else [])
    assert [(leg.from_, leg.to) for leg in t.legs] == list(zip(chain, chain[1:]))
    d = tour.distance_matrix([start, *stops], detour=detour)
    for leg in t.legs:
        a = 0 if leg.from_ is None else leg.from_ + 1
        b = 0 if leg.to is None else leg.to + 1
        assert leg.distance_m == pytest.approx(d[a, b], rel=1e-12, abs=1e-9)
        assert leg.walk_minutes == pytest.approx(leg.distance_m / (speed_kmh * 1000 / 60), rel=1e-12, abs=1e-12)
        dwell = 0.0 if leg.to is None else dwell_min
        assert leg.minutes == pytest.approx(leg.walk_minutes + dwell, rel=1e-12, abs=1e-12)
    assert t.total_m == pytest.approx(math.fsum(leg.distance_m for leg in t.legs), rel=1e-12, abs=1e-9)
    assert t.total_minutes == pytest.approx(math.fsum(leg.minutes for leg in t.legs), rel=1e-12, abs=1e-9)
    assert t.walk_minutes == pytest.approx(math.fsum(leg.walk_minutes for leg in t.legs), rel=1e-12, abs=1e-9)
    assert t.dwell_minutes == pytest.approx(dwell_min * len(t.order))


# ---------------------------------------------------------------- distances


def test_distance_matrix_matches_known_great_circle_distances():
    # One degree of latitude on the 6,371,008.8 m sphere is 111,195.08 m; at 39.94 N a degree of
    # longitude is that times cos(39.94 deg).
    d = tour.distance_matrix([(116.31, 39.94), (116.31, 40.94), (117.31, 39.94)], detour=1.0)
    assert d[0, 1] == pytest.approx(math.pi / 180 * 6_371_008.8, rel=1e-12)
    # Along a parallel the great circle is slightly shorter than the parallel itself.
    parallel = math.pi / 180 * 6_371_008.8 * math.cos(math.radians(39.94))
    assert 0.999 * parallel < d[0, 2] < parallel
    # Beijing Tiananmen to Shanghai People's Square, about 1,067 km as the crow flies.
    far = tour.distance_matrix([(116.3975, 39.9087), (121.4737, 31.2304)], detour=1.0)[0, 1]
    assert 1_060_000 < far < 1_075_000


def test_distance_matrix_is_symmetric_scaled_by_detour_and_zero_on_the_diagonal():
    start, stops = _points(1, 40)
    plain = tour.distance_matrix([start, *stops], detour=1.0)
    walked = tour.distance_matrix([start, *stops])
    assert plain.shape == (41, 41)
    assert np.array_equal(plain, plain.T)
    assert np.all(np.diag(plain) == 0)
    np.testing.assert_allclose(walked, plain * tour.DEFAULT_DETOUR, rtol=1e-12)
    # The triangle inequality holds (the bisection for max_minutes relies on it).
    assert np.all(plain[:, :, None] <= plain[:, None, :] + plain.T[None, :, :] + 1e-6)


def test_walking_time_model():
    assert tour.walk_minutes(4500.0) == pytest.approx(60.0)
    start, stops = (116.31, 39.94), [(116.31, 39.94 + 1 / 111.19508)]  # ~1 km due north
    t = tour.plan_tour(start, stops, detour=1.0, speed_kmh=6.0, dwell_min=5.0)
    assert t.total_m == pytest.approx(2000.0, rel=1e-5)
    assert t.walk_minutes == pytest.approx(20.0, rel=1e-5)
    assert t.total_minutes == pytest.approx(25.0, rel=1e-5)  # the dwell is at the stop, not at the start


# ---------------------------------------------------------------- optimality on small instances

SMALL = [(seed, n) for n in range(3, 10) for seed in range(10 if n < 9 else 5)]


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "open"])
def test_small_instances_reach_the_exact_optimum(closed):
    worst = 0.0
    for seed, n in SMALL:
        start, stops = _points(1000 * n + seed, n)
        d = tour.distance_matrix([start, *stops])
        best = _brute_force(d, closed)
        t = tour.plan_tour(start, stops, return_to_start=closed)
        _check_consistent(t, start, stops)
        assert t.closed is closed and t.left_out == []
        assert t.total_m == pytest.approx(_length(d, t.order, closed), rel=1e-12)
        worst = max(worst, (t.total_m - best) / best)
        assert t.total_m <= best * (1 + 1e-9), (seed, n, closed, t.total_m, best)
    assert worst <= 1e-9


def test_small_clustered_instances_with_ties_reach_the_optimum():
    # Stops on a grid have many equally long tours; several stops share a point.
    for seed in range(8):
        rng = np.random.default_rng(seed)
        cells = rng.integers(0, 4, size=(8, 2))
        stops = [(CENTRE[0] + 0.001 * float(x), CENTRE[1] + 0.001 * float(y)) for x, y in cells]
        start = stops[int(rng.integers(0, 8))] if seed % 2 else (CENTRE[0] - 0.0005, CENTRE[1])
        d = tour.distance_matrix([start, *stops])
        for closed in (True, False):
            t = tour.plan_tour(start, stops, return_to_start=closed)
            assert t.total_m <= _brute_force(d, closed) * (1 + 1e-9) + 1e-9
            _check_consistent(t, start, stops)


def test_open_path_is_never_longer_than_the_closed_tour_and_ends_at_a_stop():
    for seed in range(10):
        start, stops = _points(seed, 25)
        closed = tour.plan_tour(start, stops)
        opened = tour.plan_tour(start, stops, return_to_start=False)
        assert opened.total_m < closed.total_m
        assert len(opened.legs) == 25 and opened.legs[-1].to is not None
        assert len(closed.legs) == 26 and closed.legs[-1].to is None
        _check_consistent(opened, start, stops)
        _check_consistent(closed, start, stops)


# ---------------------------------------------------------------- larger instances, time, determinism


def test_150_stops_within_the_budget_and_better_than_local_search_alone():
    start, stops = _points(7, 150, spread_deg=0.012)
    t0 = time.perf_counter()
    quick = tour.plan_tour(start, stops, time_budget_s=0)
    quick_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = tour.plan_tour(start, stops, time_budget_s=0.5)
    full_s = time.perf_counter() - t0
    _check_consistent(full, start, stops)
    assert sorted(full.order) == list(range(150))
    assert quick_s < 0.5  # a local optimum, even on a loaded machine
    assert full_s < 0.5 + 0.3
    assert full.total_m <= quick.total_m
    # A 2-opt and Or-opt local optimum has no crossing legs: check that no 2-opt move gains.
    d = tour.distance_matrix([start, *stops])
    nodes = [0] + [i + 1 for i in full.order]
    m = len(nodes)
    for i in range(m):
        a, b = nodes[i], nodes[(i + 1) % m]
        for j in range(i + 2, m):
            c, e = nodes[j], nodes[(j + 1) % m]
            if e == a:
                continue
            assert d[a, c] + d[b, e] >= d[a, b] + d[c, e] - 1e-6


def test_same_input_same_tour_when_the_budget_does_not_cut_in():
    start, stops = _points(3, 20)
    first = tour.plan_tour(start, stops, time_budget_s=30)
    second = tour.plan_tour(start, stops, time_budget_s=30)
    assert first.order == second.order


def test_closed_tour_direction_reaches_the_first_priority_stop_early():
    for seed in range(5):
        start, stops = _points(seed, 12)
        t = tour.plan_tour(start, stops)
        assert t.order.index(0) <= len(t.order) - 1 - t.order.index(0)


# ---------------------------------------------------------------- limits


def test_max_stops_keeps_the_highest_priority_stops():
    start, stops = _points(11, 30)
    t = tour.plan_tour(start, stops, max_stops=8)
    assert sorted(t.order) == list(range(8))
    assert t.left_out == list(range(8, 30))
    assert t.cut_by == ["max_stops"]
    d = tour.distance_matrix([start, *stops[:8]])
    assert t.total_m <= _brute_force(d, True) * (1 + 1e-9)
    _check_consistent(t, start, stops)
    assert tour.plan_tour(start, stops, max_stops=30).cut_by == []
    assert tour.plan_tour(start, stops, max_stops=100).left_out == []
    none = tour.plan_tour(start, stops, max_stops=0)
    assert none.order == [] and none.legs == [] and none.left_out == list(range(30))


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "open"])
def test_max_minutes_drops_lowest_priority_stops_until_the_tour_fits(closed):
    start, stops = _points(12, 40)
    whole = tour.plan_tour(start, stops, return_to_start=closed, time_budget_s=0.2)
    for limit in (whole.total_minutes * 0.25, whole.total_minutes * 0.5, whole.total_minutes * 0.8):
        t = tour.plan_tour(start, stops, return_to_start=closed, max_minutes=limit, time_budget_s=0.2)
        _check_consistent(t, start, stops)
        k = len(t.order)
        assert 0 < k < 40
        assert t.total_minutes <= limit
        assert sorted(t.order) == list(range(k)), "only the lowest-priority stops are dropped"
        assert t.left_out == list(range(k, 40))
        assert t.cut_by == ["max_minutes"]
        # One more stop does not fit, even planned with more time.
        more = tour.plan_tour(start, stops[: k + 1], return_to_start=closed, time_budget_s=0.3)
        assert more.total_minutes > limit * (1 - 0.03)
    # The local-search tour (no budget) is the first one tried, so a limit it meets keeps every stop.
    first = tour.plan_tour(start, stops, return_to_start=closed, time_budget_s=0)
    fits = tour.plan_tour(start, stops, return_to_start=closed, max_minutes=first.total_minutes)
    assert fits.left_out == [] and fits.cut_by == [] and fits.total_minutes <= first.total_minutes


def test_max_minutes_exact_on_a_small_instance():
    start, stops = _points(5, 7)
    d = tour.distance_matrix([start, *stops])
    per_min = tour.DEFAULT_SPEED_KMH * 1000 / 60
    exact = [0.0] + [_brute_force(d[: k + 1, : k + 1], True) / per_min + 3.0 * k for k in range(1, 8)]
    for k in range(8):
        limit = exact[k] + 1e-6
        t = tour.plan_tour(start, stops, max_minutes=limit)
        # The largest prefix whose optimal tour fits (optimal lengths grow with the prefix).
        assert len(t.order) == max(j for j in range(8) if exact[j] <= limit)
        assert t.total_minutes <= limit


def test_both_limits_together_and_a_limit_too_small_for_any_stop():
    start, stops = _points(13, 30)
    t = tour.plan_tour(start, stops, max_stops=20, max_minutes=30)
    assert len(t.order) <= 20 and t.total_minutes <= 30
    assert t.cut_by == ["max_stops", "max_minutes"]
    assert t.left_out == list(range(len(t.order), 30))
    tiny = tour.plan_tour(start, stops, max_minutes=1.0)  # less than one dwell
    assert tiny.order == [] and tiny.legs == [] and tiny.total_minutes == 0
    assert tiny.left_out == list(range(30)) and tiny.cut_by == ["max_minutes"]


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize("closed", [True, False])
def test_no_stops_is_an_empty_tour(closed):
    t = tour.plan_tour((116.31, 39.94), [], return_to_start=closed, max_minutes=10, max_stops=3)
    assert t.order == [] and t.legs == [] and t.left_out == [] and t.cut_by == []
    assert t.total_m == 0 and t.total_minutes == 0
    assert t.line((116.31, 39.94), []) == [(116.31, 39.94)]


def test_one_stop():
    start, stops = (116.31, 39.94), [(116.315, 39.943)]
    closed = tour.plan_tour(start, stops)
    assert closed.order == [0]
    assert [(leg.from_, leg.to) for leg in closed.legs] == [(None, 0), (0, None)]
    assert closed.legs[0].distance_m == pytest.approx(closed.legs[1].distance_m)
    assert closed.line(start, stops) == [start, stops[0], start]
    opened = tour.plan_tour(start, stops, return_to_start=False)
    assert [(leg.from_, leg.to) for leg in opened.legs] == [(None, 0)]
    assert opened.total_m == pytest.approx(closed.total_m / 2)
    assert opened.total_minutes == pytest.approx(opened.legs[0].walk_minutes + 3.0)


@pytest.mark.parametrize("closed", [True, False])
def test_duplicate_coordinates_and_stops_at_the_start(closed):
    start = (116.31, 39.94)
    a, b = (116.312, 39.941), (116.308, 39.943)
    stops = [a, start, b, a, start, a, b]
    t = tour.plan_tour(start, stops, return_to_start=closed)
    _check_consistent(t, start, stops)
    d = tour.distance_matrix([start, *stops])
    assert t.total_m == pytest.approx(_brute_force(d, closed), rel=1e-9, abs=1e-9)
    # Every stop at the same point: nothing to walk, only dwell.
    same = tour.plan_tour(start, [start] * 5, return_to_start=closed)
    assert sorted(same.order) == list(range(5))
    assert same.total_m == 0 and same.total_minutes == pytest.approx(15.0)


def test_stops_given_as_a_numpy_array_and_lists():
    start, stops = _points(4, 10)
    as_array = tour.plan_tour(np.array(start), np.array(stops))
    as_lists = tour.plan_tour(list(start), [list(p) for p in stops])
    assert as_array.order == as_lists.order == tour.plan_tour(start, stops).order


def test_leg_as_dict_uses_from_and_to():
    t = tour.plan_tour((116.31, 39.94), [(116.311, 39.94)])
    assert t.legs[0].as_dict()["from"] is None and t.legs[0].as_dict()["to"] == 0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"start": (200.0, 39.9)}, "start"),
    ({"start": (116.3,)}, "start"),
    ({"start": "office"}, "start"),
    ({"stops": [(116.3, 95.0)]}, "stops"),
    ({"stops": [(116.3, float("nan"))]}, "stops"),
    ({"stops": [(116.3, 39.9, 5.0)]}, "stops"),
    ({"max_stops": -1}, "max_stops"),
    ({"max_stops": 2.5}, "max_stops"),
    ({"max_minutes": -5}, "max_minutes"),
    ({"max_minutes": float("nan")}, "max_minutes"),
    ({"detour": 0.5}, "detour"),
    ({"speed_kmh": 0}, "speed_kmh"),
    ({"speed_kmh": float("inf")}, "speed_kmh"),
    ({"dwell_min": -1}, "dwell_min"),
    ({"time_budget_s": -1}, "time_budget_s"),
])
def test_bad_input_is_refused_with_the_field_named(kwargs, field):
    args = {"start": (116.31, 39.94), "stops": [(116.311, 39.941)], **kwargs}
    with pytest.raises(tour.TourInputError) as caught:
        tour.plan_tour(args.pop("start"), args.pop("stops"), **args)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
