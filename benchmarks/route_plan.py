"""Walking order, measured: planning time and route length of `geodata.routing.order_route` against the best
route OR-Tools finds with guided local search in 30 s, and against nearest-neighbour.

Instances: 20, 100 and 300 stops at random (fixed seed) in a 600 m x 600 m compound, plus the start (the
compound's south gate); straight-line metres. "plan" is what the planner does for a route: the distance matrix
plus `order_route` with its default time budget. The reference runs guided local search twice for the reference
time (from OR-Tools' default first solution and from Christofides) and keeps the shorter route.
Goals: plan 300 stops in at most 1 s, within 2% of the reference.

    python benchmarks/route_plan.py            # 30-s reference (about 3 minutes)
    python benchmarks/route_plan.py --quick    # 5-s reference
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ortools.constraint_solver import pywrapcp, routing_enums_pb2  # noqa: E402

from geodata import routing  # noqa: E402

SIZES = (20, 100, 300)
SIDE_M = 600.0
SEED = 2020
GOAL_SECONDS = 1.0
GOAL_GAP = 0.02


def instance(n: int, seed: int = SEED) -> np.ndarray:
    """The gate at (300, 0), then n stops uniformly in the compound."""
    rng = np.random.default_rng(seed + n)
    return np.vstack([[SIDE_M / 2, 0.0], rng.uniform(0, SIDE_M, (n, 2))])


def gls_route(matrix: np.ndarray, seconds: float, first: str) -> list[int]:
    """OR-Tools guided local search for `seconds` from the first-solution strategy `first`."""
    ints = np.rint(matrix * 10).astype(np.int64).tolist()
    manager = pywrapcp.RoutingIndexManager(len(ints), 1, 0)
    model = pywrapcp.RoutingModel(manager)
    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitMatrix(ints))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first)
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromSeconds(int(seconds))
    solution = model.SolveWithParameters(params)
    index, order = model.Start(0), []
    while not model.IsEnd(index):
        order.append(manager.IndexToNode(index))
        index = solution.Value(model.NextVar(index))
    return order


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5-s reference instead of 30 s")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated numbers of stops")
    args = ap.parse_args(argv)
    ref_s = 5 if args.quick else 30
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"order_route (budget {routing.DEFAULT_TIME_LIMIT_S} s) vs OR-Tools GLS {ref_s} s vs nearest-neighbour; "
          f"{SIDE_M:.0f} m x {SIDE_M:.0f} m, seed {SEED}")
    head = ("stops", "plan s", "plan m", f"GLS {ref_s}s m", "plan gap", "NN m", "NN gap", "goals")
    print(f"{head[0]:>5}  {head[1]:>6}  {head[2]:>8}  {head[3]:>10}  {head[4]:>8}  {head[5]:>8}  {head[6]:>7}  "
          f"{head[7]}")
    ok = True
    for n in sizes:
        pts = instance(n)
        t0 = time.perf_counter()
        matrix = routing.distance_matrix(pts)
        order = routing.order_route(matrix, 0)
        plan_s = time.perf_counter() - t0
        plan_m = routing.route_length(matrix, order)
        ref_m = min(routing.route_length(matrix, gls_route(matrix, ref_s, first))
                    for first in ("PATH_CHEAPEST_ARC", "CHRISTOFIDES"))
        nn_m = routing.route_length(matrix, routing.nearest_neighbour_route(matrix, 0))
        gap = plan_m / ref_m - 1
        met = plan_s <= GOAL_SECONDS and gap <= GOAL_GAP
        ok &= met
        print(f"{n:>5}  {plan_s:>6.2f}  {plan_m:>8.0f}  {ref_m:>10.0f}  {gap:>+8.2%}  {nn_m:>8.0f}  "
              f"{nn_m / ref_m - 1:>+7.1%}  {'met' if met else 'MISSED'}")
    print(f"goals: ≤ {GOAL_SECONDS:.0f} s and ≤ {GOAL_GAP:.0%} above the reference — {'all met' if ok else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
