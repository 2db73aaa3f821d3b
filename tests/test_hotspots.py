"""Tests for the hot spot statistics in geodata.hotspots (no database needed).

The Gi* z-scores and p-values are checked against PySAL's esda.G_Local(star=True, transform='B') on the
same cells and the same H3 neighbour lists, with libpysal weights built independently of our matrix.
"""
from __future__ import annotations

import json
import math
import unicodedata
import warnings

import esda
import h3
import libpysal
import numpy as np
import pytest
import scipy.stats

from geodata import hotspots as hs

BEIJING = (39.94, 116.31)  # lat, lon: Haidian, near the demo street
CENTRE = h3.latlng_to_cell(*BEIJING, 9)


# ---------------------------------------------------------------------------------------------------
# Helpers


def esda_gi_star(result: hs.HotspotResult, *, self_in_lists: bool = False):
    """esda's Gi* on the result's cells, with a libpysal W built from h3.grid_disk neighbour lists.

    esda.G_Local(star=True, transform='B') handles the self-weight itself: when the W has no diagonal
    it inserts w_ii = 1 (libpysal fill_diagonal) before computing, and when the lists already contain the
    cell itself it uses them as they are. Both spellings must give our numbers.
    """
    ids = list(result.cells)
    index = {c: i for i, c in enumerate(ids)}
    neighbours = {}
    for c in ids:
        disk = [d for d in h3.grid_disk(c, result.k) if d in index]
        neighbours[c] = disk if self_in_lists else [d for d in disk if d != c]
    w = libpysal.weights.W(neighbours, id_order=ids, silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. numba not installed
        g = esda.G_Local(result.counts, w, transform="B", star=True, permutations=0)
    return g, w


def assert_matches_esda(result: hs.HotspotResult, *, self_in_lists: bool = False) -> None:
    g, w = esda_gi_star(result, self_in_lists=self_in_lists)
    assert g.star
    np.testing.assert_allclose(result.z, g.Zs, rtol=0, atol=1e-8)
    # esda's p_norm is one-sided (norm.sf(|z|)); ArcGIS reports the two-sided p.
    np.testing.assert_allclose(result.p, 2 * g.p_norm, rtol=1e-8, atol=1e-15)
    # The weights esda used (after inserting the diagonal) are exactly ours.
    ours = hs.neighbour_matrix(np.array([h3.str_to_int(c) for c in result.cells], dtype=np.uint64), result.k)
    theirs = g.w.sparse
    assert (abs(ours - theirs)).max() == 0
    np.testing.assert_array_equal(result.neighbours, np.asarray(theirs.sum(axis=1)).ravel())


def poisson_counts(cells, lam, seed):
    rng = np.random.default_rng(seed)
    return {c: int(v) for c, v in zip(cells, rng.poisson(lam, len(cells)))}


def index_of(result: hs.HotspotResult, cell: str) -> int:
    return list(result.cells).index(cell)


def bh_reference(p: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg step-up, as ArcGIS describes it for each confidence level: rank the p-values,
    find the largest rank r with p_(r) <= r/m * alpha, reject every p <= p_(r)."""
    m = len(p)
    ordered = np.sort(p)
    passing = np.nonzero(ordered <= np.arange(1, m + 1) / m * alpha)[0]
    if passing.size == 0:
        return np.zeros(m, bool)
    return p <= ordered[passing.max()]


# ---------------------------------------------------------------------------------------------------
# Agreement with esda


def test_gi_star_equals_esda_on_random_points():
    rng = np.random.default_rng(42)
    n = 3000
    lats = BEIJING[0] + rng.normal(0, 0.01, n)
    lons = BEIJING[1] + rng.normal(0, 0.013, n)
    result = hs.hotspots_from_points(lons, lats, 9)
    assert len(result) > 300
    assert result.counts.sum() == n
    assert (result.counts == 0).sum() > 0  # the zero-count ring is part of the study region
    assert_matches_esda(result)
    assert_matches_esda(result, self_in_lists=True)


def test_gi_star_equals_esda_with_k2_and_a_pentagon():
    pentagon = h3.get_pentagons(9)[3]
    result = hs.hotspots(poisson_counts(h3.grid_disk(pentagon, 6), 4, seed=7), k=2)
    assert result.neighbours[index_of(result, pentagon)] == 16  # 1 + 5 + 10: a pentagon's disk
    assert_matches_esda(result)


def test_gi_star_equals_esda_on_non_integer_weights():
    cells = h3.grid_disk(CENTRE, 8)
    rng = np.random.default_rng(3)
    result = hs.hotspots((cells, rng.gamma(2.0, 1.5, len(cells))), pad=0)
    assert_matches_esda(result)


# ---------------------------------------------------------------------------------------------------
# Planted clusters


def test_planted_hot_cluster_is_hot_at_99():
    counts = poisson_counts(h3.grid_disk(CENTRE, 10), 2, seed=1)  # 331 cells of low counts
    planted = h3.grid_disk(CENTRE, 1)  # 7 cells
    for cell in planted:
        counts[cell] = 30
    result = hs.hotspots(counts)
    assert_matches_esda(result)
    classes = dict(zip(result.cells, result.classes))
    assert classes[CENTRE] == "hot_99"
    assert result.gi_bin[index_of(result, CENTRE)] == 3
    for cell in planted:
        assert classes[cell] == "hot_99", cell
        assert result.classes_uncorrected[index_of(result, cell)] == "hot_99"
    # Far from the cluster nothing is hot with the FDR correction.
    far = set(h3.grid_disk(CENTRE, 11)) - set(h3.grid_disk(CENTRE, 3))
    assert far <= set(classes)
    assert all(classes[c] != "hot_99" for c in far)


def test_planted_cold_region_is_cold_at_99():
    counts = poisson_counts(h3.grid_disk(CENTRE, 10), 20, seed=2)
    for cell in h3.grid_disk(CENTRE, 2):  # 19 empty cells in a busy neighbourhood
        counts[cell] = 0
    result = hs.hotspots(counts, pad=0)
    assert_matches_esda(result)
    classes = dict(zip(result.cells, result.classes))
    for cell in h3.grid_disk(CENTRE, 1):
        assert classes[cell] == "cold_99", cell
    assert result.z[index_of(result, CENTRE)] < -5
    assert not any(c.startswith("cold") for c in (classes[x] for x in h3.grid_ring(CENTRE, 7)))


# ---------------------------------------------------------------------------------------------------
# FDR


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fdr_never_adds_significance(seed):
    rng = np.random.default_rng(seed)
    n = 4000
    # Two clusters and background noise: some cells are significant, some only without correction.
    lats = np.concatenate([BEIJING[0] + rng.normal(0, 0.02, n), BEIJING[0] + 0.01 + rng.normal(0, 0.002, 150)])
    lons = np.concatenate([BEIJING[1] + rng.normal(0, 0.02, n), BEIJING[1] + rng.normal(0, 0.002, 150)])
    result = hs.hotspots_from_points(lons, lats, 9)
    corrected = np.count_nonzero(result.gi_bin)
    uncorrected = np.count_nonzero(result.gi_bin_uncorrected)
    assert 0 < corrected <= uncorrected
    assert (np.abs(result.gi_bin) <= np.abs(result.gi_bin_uncorrected)).all()
    assert (result.p_fdr >= result.p).all()
    # The sign never changes, only the level.
    assert (result.gi_bin * result.gi_bin_uncorrected >= 0).all()
    # q-values are Benjamini-Hochberg's (scipy's implementation) ...
    np.testing.assert_allclose(result.p_fdr, scipy.stats.false_discovery_control(result.p, method="bh"),
                               rtol=1e-12)
    # ... and a bin is ArcGIS' BH step-up run separately at each of 0.10, 0.05 and 0.01.
    for level, alpha in ((1, 0.10), (2, 0.05), (3, 0.01)):
        np.testing.assert_array_equal(np.abs(result.gi_bin) >= level, bh_reference(result.p, alpha))
        np.testing.assert_array_equal(np.abs(result.gi_bin_uncorrected) >= level, result.p <= alpha)
    assert result.class_counts()["not_significant"] >= result.class_counts(corrected=False)["not_significant"]


def test_gi_bins_thresholds():
    z = np.array([3.0, 2.0, 1.7, 1.0, -1.7, -2.0, -3.0, 0.0])
    p = 2 * scipy.stats.norm.sf(np.abs(z))
    assert hs.gi_bins(z, p).tolist() == [3, 2, 1, 0, -1, -2, -3, 0]
    assert [hs.CLASS_BY_BIN[b] for b in hs.gi_bins(z, p).tolist()] == [
        "hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99", "not_significant"]


# ---------------------------------------------------------------------------------------------------
# Input and edge cases


@pytest.mark.parametrize("bad", [4, 12, 0, -1, 15, 9.0, "9", None, True])
def test_invalid_resolution_raises(bad):
    with pytest.raises(hs.InvalidResolution, match="5 to 11"):
        hs.check_resolution(bad)
    with pytest.raises(hs.InvalidResolution):
        hs.bin_points([116.31], [39.94], bad)
    with pytest.raises(hs.InvalidResolution):
        hs.hotspots_from_points([], [], bad)
    if bad is not None:  # hotspots(resolution=None) takes the cells' own resolution
        with pytest.raises(ValueError):  # a ValueError, for callers that do not know the type
            hs.hotspots({}, resolution=bad)


def test_resolution_of_cells_is_checked():
    with pytest.raises(hs.InvalidResolution, match="12"):
        hs.hotspots({h3.latlng_to_cell(*BEIJING, 12): 1})
    with pytest.raises(hs.InvalidResolution, match="mix"):
        hs.hotspots({h3.latlng_to_cell(*BEIJING, 8): 1, CENTRE: 2})
    with pytest.raises(hs.InvalidResolution, match="resolution=8"):
        hs.hotspots({CENTRE: 1}, resolution=8)
    for res in range(5, 12):
        assert hs.hotspots({h3.latlng_to_cell(*BEIJING, res): 1}).resolution == res


def test_bin_points_counts_per_cell():
    rng = np.random.default_rng(5)
    lats = BEIJING[0] + rng.normal(0, 0.005, 500)
    lons = BEIJING[1] + rng.normal(0, 0.005, 500)
    counts = hs.bin_points(lons, lats, 10)
    expected: dict[str, int] = {}
    for lat, lon in zip(lats, lons):
        cell = h3.latlng_to_cell(lat, lon, 10)
        expected[cell] = expected.get(cell, 0) + 1
    assert counts == expected
    assert all(isinstance(c, str) and isinstance(n, int) for c, n in counts.items())
    assert hs.bin_points([], [], 9) == {}
    # Pre-aggregated counts, as a mapping or as a pair, give the same analysis as the points.
    from_points = hs.hotspots_from_points(lons, lats, 10)
    for given in (counts, (list(counts), list(counts.values()))):
        result = hs.hotspots(given)
        np.testing.assert_array_equal(result.cells, from_points.cells)
        np.testing.assert_array_equal(result.z, from_points.z)


@pytest.mark.parametrize("lons, lats", [([116.3, float("nan")], [39.9, 39.9]), ([116.3], [91.0]),
                                        ([181.0], [39.9]), ([116.3, 116.4], [39.9])])
def test_bad_coordinates_raise(lons, lats):
    with pytest.raises(hs.InvalidInput):
        hs.bin_points(lons, lats, 9)


def test_cells_as_integers_and_repeated_cells():
    as_int = h3.str_to_int(CENTRE)
    result = hs.hotspots(([as_int, CENTRE, CENTRE.upper()], [1, 2, 3]), pad=0)
    assert list(result.cells) == [CENTRE]
    assert result.counts.tolist() == [6.0]
    with pytest.raises(hs.InvalidInput, match="not an H3 cell"):
        hs.hotspots({"not-a-cell": 1})
    with pytest.raises(hs.InvalidInput):
        hs.hotspots({CENTRE: -1})
    with pytest.raises(hs.InvalidInput):
        hs.hotspots({CENTRE: float("nan")})
    with pytest.raises(hs.InvalidInput):
        hs.hotspots(([CENTRE], [1, 2]))
    with pytest.raises(hs.InvalidInput):
        hs.hotspots({CENTRE: None})
    with pytest.raises(hs.InvalidInput, match="dict"):  # rows from a cursor: a list, not a pair
        hs.hotspots([(CENTRE, 1), (h3.grid_disk(CENTRE, 1)[1], 2)])
    with pytest.raises(hs.InvalidInput):
        hs.hotspots({CENTRE: 1}, k=0)
    with pytest.raises(hs.InvalidInput):
        hs.hotspots({CENTRE: 1}, pad=-1)


def test_empty_input_gives_empty_result():
    for result in (hs.hotspots({}), hs.hotspots(([], [])), hs.hotspots_from_points([], [], 9),
                   hs.hotspots_from_points(np.array([]), np.array([]))):
        assert len(result) == 0
        assert result.records() == []
        assert to_json(result) == {"type": "FeatureCollection", "features": []}
        assert sum(result.class_counts().values()) == 0


def test_zero_variance_is_not_significant():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero or invalid-value warnings either
        for value in (0, 5, 0.1):
            result = hs.hotspots({c: value for c in h3.grid_disk(CENTRE, 5)}, pad=0)
            assert len(result) == 91
            assert (result.z == 0).all() and (result.p == 1).all() and (result.p_fdr == 1).all()
            assert set(result.classes) == set(result.classes_uncorrected) == {"not_significant"}
        # An area with no reports at all.
        area = hexagon_area(CENTRE, 3)
        result = hs.hotspots({}, area=area, resolution=9)
        assert len(result) > 30 and (result.counts == 0).all() and not result.gi_bin.any()


def test_single_cell():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = hs.hotspots({CENTRE: 4}, pad=0)
        assert len(alone) == 1 and alone.z.tolist() == [0.0] and alone.classes == ["not_significant"]
        padded = hs.hotspots({CENTRE: 4})  # with its ring of zero neighbours
        assert len(padded) == 7
        assert np.isfinite(padded.z).all()
        # Every neighbourhood of the centre is the whole region: no test is possible there.
        assert padded.z[index_of(padded, CENTRE)] == 0


def test_antimeridian_does_not_crash():
    cells = hs.bin_points([179.9999, -179.9999, 180.0, -180.0], [0.0, 0.0, 10.0, -10.0], 9)
    result = hs.hotspots(cells)
    assert np.isfinite(result.z).all()
    json.dumps(hs.to_geojson(result), allow_nan=False)


def test_area_defines_the_study_region():
    area = hexagon_area(CENTRE, 4)
    inside = set(h3.geo_to_cells(area, 9))
    outside_cell = h3.latlng_to_cell(BEIJING[0] + 0.2, BEIJING[1], 9)
    result = hs.hotspots({CENTRE: 5, outside_cell: 2}, area=area)
    assert set(result.cells) == inside | {outside_cell}  # counts outside the area are kept, not padded
    assert result.counts.sum() == 7
    # An area as an object with __geo_interface__ (shapely) or as an h3 shape gives the same region.
    shapely_geometry = pytest.importorskip("shapely.geometry")
    assert set(hs.hotspots({}, area=shapely_geometry.shape(area), resolution=9).cells) == inside
    assert set(hs.hotspots({}, area=h3.geo_to_h3shape(area), resolution=9).cells) == inside
    with pytest.raises(hs.InvalidInput):
        hs.hotspots({}, area={"type": "Point", "coordinates": [116.3, 39.9]}, resolution=9)
    with pytest.raises(hs.StudyAreaTooLarge):
        hs.hotspots({}, area=area, resolution=11, max_cells=100)
    with pytest.raises(hs.StudyAreaTooLarge):
        hs.hotspots({c: 1 for c in h3.grid_disk(CENTRE, 6)}, max_cells=100)


# ---------------------------------------------------------------------------------------------------
# Output


def to_json(result):
    return json.loads(json.dumps(hs.to_geojson(result), allow_nan=False))


def hexagon_area(cell: str, k: int) -> dict:
    """A GeoJSON polygon roughly covering grid_disk(cell, k): a hexagon around the cell's centre."""
    lat, lng = h3.cell_to_latlng(cell)
    radius = (k + 0.5) * h3.average_hexagon_edge_length(h3.get_resolution(cell), unit="km") * math.sqrt(3)
    dlat = radius / 111.2
    dlng = dlat / math.cos(math.radians(lat))
    ring = [[lng + dlng * math.cos(a), lat + dlat * math.sin(a)] for a in np.radians(np.arange(0, 360, 60))]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_geojson_is_rfc7946():
    counts = poisson_counts(h3.grid_disk(CENTRE, 6), 2, seed=4)
    counts[CENTRE] = 40
    result = hs.hotspots(counts)
    collection = to_json(result)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(result)
    colours = {entry["class"]: entry["color"] for entry in hs.LEGEND}
    for feature, record in zip(collection["features"], result.records()):
        assert feature["type"] == "Feature" and feature["id"] == record["cell"]
        geometry = feature["geometry"]
        assert geometry["type"] == "Polygon" and len(geometry["coordinates"]) == 1
        ring = geometry["coordinates"][0]
        assert len(ring) >= 6 and ring[0] == ring[-1]  # closed: 5 or 6 vertices, first repeated
        # lon, lat order: the ring surrounds the cell centre given by h3 as (lat, lng).
        lat, lng = h3.cell_to_latlng(record["cell"])
        lons, lats = zip(*ring[:-1])
        assert min(lons) < lng < max(lons) and min(lats) < lat < max(lats)
        assert 116 < lng < 117 and 39 < lat < 41
        # Counter-clockwise exterior ring (the right-hand rule of RFC 7946 section 3.1.6).
        assert sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) > 0
        props = feature["properties"]
        assert set(props) == {"cell", "count", "neighbours", "z", "p", "p_fdr", "gi_bin", "class",
                              "gi_bin_uncorrected", "class_uncorrected", "color"}
        assert props["class"] == hs.CLASS_BY_BIN[props["gi_bin"]]
        assert props["color"] == colours[props["class"]]
        assert props["z"] == pytest.approx(record["z"]) and 0 <= props["p"] <= props["p_fdr"] <= 1
        assert isinstance(props["count"], int)
    hot = json.loads(json.dumps(hs.to_geojson(result, only_significant=True)))
    assert 0 < len(hot["features"]) < len(result)
    assert any(f["id"] == CENTRE and f["properties"]["class"] == "hot_99" for f in hot["features"])


def test_legend():
    assert [entry["gi_bin"] for entry in hs.LEGEND] == [3, 2, 1, 0, -1, -2, -3]
    assert [entry["class"] for entry in hs.LEGEND] == [hs.CLASS_BY_BIN[b] for b in range(3, -4, -1)]
    assert [entry["color"] for entry in hs.LEGEND] == [
        "#D62F27", "#ED7551", "#FAB984", "#FFFFBF", "#C0CCBE", "#849EBA", "#4575B5"]
    for entry in hs.LEGEND:
        for field in ("label", "description"):
            assert entry[field]["en"].strip()
            assert any(unicodedata.name(ch, "").startswith("CJK") for ch in entry[field]["zh"])
    json.dumps(hs.LEGEND, ensure_ascii=False)
