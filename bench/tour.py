"""Walkabout ordering benchmark: geodata.tour.plan_tour against OR-Tools' routing solver, and planning time.

`python -m bench.tour` runs the full comparison (50 instances of 30..150 stops, OR-Tools given 10 s each
with guided local search, about 10 minutes) and times planning 150 stops; `--quick` gives OR-Tools 2 s on
10 instances; `--city` adds the whole walkabouts.plan() (selection in the 1,000,000-issue synthetic city,
ordering, storing) for 150 stops. `tables()` is what `make bench` prints; `run()` returns the gap rows.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from geodata import tour

from bench.common import print_table

SEED = 20240607
CENTRE = (116.31, 39.94)  # lon, lat: a community in Haidian, Beijing
SIDE_M = 2000.0  # the community is about 2 km across
FULL = {"instances": 50, "ortools_s": 10.0}
QUICK = {"instances": 10, "ortools_s": 2.0}

TITLE = "Walkabout order: closed tours of 30..150 stops, gap to OR-Tools (guided local search), one core"
HEADER = ("planner", "instances", "median gap %", "mean gap %", "max gap %", "share within 3 %",
          "median s", "max s", "max s at 150 stops", "OR-Tools s per instance")


def instances(count: int, seed: int = SEED, size: int | None = None
              ) -> list[tuple[tuple[float, float], list[tuple[float, float]]]]:
    """`count` (start, stops) instances, sizes spread evenly over 30..150 (or all of `size`), over a 2 km
    square community.

    Open issues cluster (a compound's stairwells, a market street), so 40 % of the stops fall in 3 to 6
    Gaussian clusters of 60 m; the rest are uniform. The start (the community office) is uniform too.
    """
    rng = np.random.default_rng(seed)
    m_per_deg_lat = 111_195.0
    m_per_deg_lon = m_per_deg_lat * np.cos(np.radians(CENTRE[1]))
    out = []
    for i in range(count):
        n = size or 30 + round(120 * i / max(1, count - 1))
        n_clustered = int(0.4 * n)
        centres = rng.uniform(-SIDE_M / 2, SIDE_M / 2, size=(int(rng.integers(3, 7)), 2))
        clustered = centres[rng.integers(0, len(centres), n_clustered)] + rng.normal(0, 60, (n_clustered, 2))
        uniform = rng.uniform(-SIDE_M / 2, SIDE_M / 2, size=(n - n_clustered + 1, 2))
        xy = np.clip(np.vstack([uniform, clustered]), -SIDE_M / 2, SIDE_M / 2)
        lonlat = np.column_stack([CENTRE[0] + xy[:, 0] / m_per_deg_lon, CENTRE[1] + xy[:, 1] / m_per_deg_lat])
        pts = [(float(x), float(y)) for x, y in lonlat]
        start, stops = pts[0], pts[1:]
        perm = rng.permutation(n)  # priority order must not carry the generator's structure
        out.append((start, [stops[j] for j in perm]))
    return out


def ortools_length(start, stops, seconds: float) -> float:
    """Length of the best closed tour OR-Tools finds in `seconds` (guided local search), on our metric."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    d = tour.distance_matrix([start, *stops])
    cost = np.rint(d * 1000.0).astype(np.int64).tolist()  # integer millimetres
    manager = pywrapcp.RoutingIndexManager(len(cost), 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    # A matrix held in C++ rather than a Python callback: the solver's time goes into search, not into
    # calling back into the interpreter for every arc it prices.
    callback = routing.RegisterTransitMatrix(cost)
    routing.SetArcCostEvaluatorOfAllVehicles(callback)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        raise RuntimeError("OR-Tools found no tour")
    nodes, index = [], routing.Start(0)
    while not routing.IsEnd(index):
        nodes.append(manager.IndexToNode(index))
        index = solution.Value(routing.NextVar(index))
    nodes.append(0)
    return float(sum(d[a, b] for a, b in zip(nodes, nodes[1:])))


def _row(label: str, gaps: list[float], times: list[float], sizes: list[int], ortools_s: float) -> tuple:
    at_max = [t for t, n in zip(times, sizes) if n == max(sizes)]
    return (label, len(gaps), statistics.median(gaps), statistics.fmean(gaps), max(gaps),
            f"{sum(g <= 3.0 for g in gaps) / len(gaps):.0%}", statistics.median(times), max(times),
            max(at_max), ortools_s)


def run(quick: bool = False, *, instances_n: int | None = None, ortools_s: float | None = None,
        verbose: bool = False) -> list[tuple]:
    """The table rows (see HEADER): our planner at its default 1 s budget, and with local search only."""
    mode = QUICK if quick else FULL
    count = instances_n or mode["instances"]
    seconds = ortools_s or mode["ortools_s"]
    tour.plan_tour((116.31, 39.94), [(116.311, 39.941), (116.312, 39.942)])  # warm up imports and caches
    rows: dict[str, tuple[list[float], list[float]]] = {"default": ([], []), "ls": ([], [])}
    sizes = []
    for k, (start, stops) in enumerate(instances(count)):
        reference = ortools_length(start, stops, seconds)
        sizes.append(len(stops))
        for key, budget in (("default", tour.DEFAULT_TIME_BUDGET_S), ("ls", 0.0)):
            t0 = time.perf_counter()
            planned = tour.plan_tour(start, stops, time_budget_s=budget)
            elapsed = time.perf_counter() - t0
            gap = 100.0 * (planned.total_m - reference) / reference
            rows[key][0].append(gap)
            rows[key][1].append(elapsed)
        if verbose:
            print(f"  {k + 1:2d}/{count}: {len(stops):3d} stops, OR-Tools {reference:8.1f} m, ours "
                  f"{rows['default'][0][-1]:+.2f} % in {rows['default'][1][-1]:.2f} s, local search only "
                  f"{rows['ls'][0][-1]:+.2f} %", file=sys.stderr, flush=True)
    return [
        _row(f"plan_tour, time_budget_s={tour.DEFAULT_TIME_BUDGET_S:g} (default)", *rows["default"], sizes, seconds),
        _row("plan_tour, time_budget_s=0 (local search only)", *rows["ls"], sizes, seconds),
    ]


PLAN_TITLE = "Walkabout planning time for 150 stops (target <= 1 s)"
PLAN_HEADER = ("what", "runs", "median s", "max s", "median tour km")
PLAN_RUNS = 10


def planning_rows(quick: bool = False, city_url: str | None = None) -> list[tuple]:
    """Wall time of planning 150 stops: plan_tour alone (default budget and local search only) on instances of
    exactly 150 stops, and, with city_url, geodata.walkabouts.plan() end to end in the synthetic city."""
    runs = 3 if quick else PLAN_RUNS
    cases = instances(runs, seed=SEED + 1, size=150)
    rows = []
    for label, budget in ((f"plan_tour, time_budget_s={tour.DEFAULT_TIME_BUDGET_S:g} (default)", tour.DEFAULT_TIME_BUDGET_S),
                          ("plan_tour, time_budget_s=0 (local search only)", 0.0)):
        times, lengths = [], []
        for start, stops in cases:
            t0 = time.perf_counter()
            planned = tour.plan_tour(start, stops, time_budget_s=budget)
            times.append(time.perf_counter() - t0)
            lengths.append(planned.total_m / 1000)
        rows.append((label, len(times), statistics.median(times), max(times), statistics.median(lengths)))
    if city_url:
        rows.append(_city_row(city_url, 2 if quick else 5))
    return rows


def _city_row(city_url: str, runs: int) -> tuple:
    """walkabouts.plan() for 150 stops in the communities of the synthetic city with the most open issues:
    the PostGIS selection among 1,000,000 issues, the ordering and the stored walkabout (rolled back)."""
    import psycopg

    from geodata import walkabouts
    from geodata.permissions import Actor

    admin = Actor(role="admin", user_id=None, username="bench")
    times, lengths, open_counts = [], [], []
    with psycopg.connect(city_url) as conn:
        busiest = conn.execute(
            "SELECT area_id, count(*) FROM issues WHERE status NOT IN ('closed', 'rejected', 'duplicate')"
            " GROUP BY area_id ORDER BY count(*) DESC LIMIT %s", (runs,)).fetchall()
        conn.rollback()
        for area_id, n_open in busiest:
            t0 = time.perf_counter()
            found = walkabouts.plan(conn, admin, {"area": area_id, "max_stops": 150}, walkabouts.Settings())
            times.append(time.perf_counter() - t0)
            conn.rollback()  # leave the city as it was
            lengths.append(found["distance_m"] / 1000)
            open_counts.append(n_open)
    label = (f"walkabouts.plan(): select 150 of {min(open_counts)}..{max(open_counts)} open issues of a community "
             "(1M-issue city), order, store")
    return (label, len(times), statistics.median(times), max(times), statistics.median(lengths))


def tables(url: str | None = None, quick: bool = False) -> list[tuple[str, tuple, list[tuple]]]:
    """What `make bench` prints: the gap to OR-Tools, and planning time for 150 stops (url: a database of the
    benchmark server; the synthetic city beside it is built once and reused)."""
    city = None
    if url:
        import psycopg

        from bench import synthetic

        admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
        city = synthetic.build_city(admin, log=lambda m: print(m, file=sys.stderr))
    return [(TITLE, HEADER, run(quick)), (PLAN_TITLE, PLAN_HEADER, planning_rows(quick, city))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tour", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 instances, OR-Tools 2 s each")
    parser.add_argument("--instances", type=int, help="number of instances (overrides the mode)")
    parser.add_argument("--ortools-seconds", type=float, help="OR-Tools time limit per instance")
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per instance on stderr")
    parser.add_argument("--city", action="store_true",
                        help="also time walkabouts.plan() end to end in the synthetic city (built once if missing)")
    parser.add_argument("--no-gap", action="store_true", help="skip the OR-Tools comparison")
    args = parser.parse_args(argv)
    if not args.no_gap:
        rows = run(args.quick, instances_n=args.instances, ortools_s=args.ortools_seconds, verbose=args.verbose)
        print_table(TITLE, HEADER, rows)
    city = None
    if args.city:
        import psycopg

        from bench import synthetic
        from geodata import config, localdb

        if not config.database_url():
            localdb.cluster().start()
        admin = config.database_url() or localdb.cluster().url("postgres")
        admin = psycopg.conninfo.make_conninfo(admin, dbname="postgres")
        city = synthetic.build_city(admin, log=lambda m: print(m, file=sys.stderr))
    print_table(PLAN_TITLE, PLAN_HEADER, planning_rows(args.quick, city))
    return 0


if __name__ == "__main__":
    sys.exit(main())
