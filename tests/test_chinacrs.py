"""Tests for the WGS84 / GCJ-02 / BD-09 conversions in geodata.chinacrs (no database needed)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geodata import chinacrs

# Published WGS84 -> GCJ-02 pairs, as (wgs_lon, wgs_lat, gcj_lon, gcj_lat).
# The GCJ-02 values are printed as full doubles (15-17 significant digits), so the forward
# formula is checked to 1e-12 deg and the inverse back to the (exact) WGS84 input to 1e-10 deg.
WGS_GCJ_PAIRS = [
    # googollee/eviltransform, python/test.py (same values in go/transform_test.go): Shanghai
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    # googollee/eviltransform, python/test.py (same values in go/transform_test.go): Shenzhen
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    # googollee/eviltransform, python/test.py (same values in go/transform_test.go): Beijing
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915)
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]

# Published GCJ-02 -> BD-09 pairs, as (gcj_lon, gcj_lat, bd_lon, bd_lat), also full doubles.
GCJ_BD_PAIRS = [
    # wandergis/coordtransform, test/app.js: gcj02tobd09(116.404, 39.915)
    (116.404, 39.915, 116.41036949371029, 39.92133699351021),
    # Glatzel/pyxis, python/tests/test_crypto.py: gcj02 / bd09 constants
    (121.09626935575027, 30.608604331756705, 121.10271732371203, 30.61484572185035),
]

# wandergis/coordtransform, test/app.js: bd09togcj02(116.404, 39.915) with the usual closed form.
CLOSED_FORM_BD_TO_GCJ = (116.404, 39.915, 116.39762729119315, 39.90865673957631)

# hujiulong/gcoord, test/fixtures/china-cities.json (Zhumadian, Shaoyang, Shenyang): WGS84,
# GCJ02, BD09 rounded to 7 decimals. How the file was produced is not documented; its GCJ-02
# is ~5e-6 deg (~0.6 m) away from the public formula, so it is only a loose independent check.
GCOORD_CITIES = [
    ((114.0164322, 33.0133556), (114.022306, 33.0115324), (114.0287781, 33.0176697)),
    ((111.4622119, 27.242124), (111.4677938, 27.2388981), (111.4742271, 27.2451662)),
    ((123.4253306, 41.8032629), (123.4314787, 41.8057023), (123.438095, 41.8114013)),
]

FULL_DOUBLE_TOL = 1e-12
INVERSE_TOL = 1e-10

BEIJING = (116.3975, 39.9087)


def _metres(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres on a 6371 km sphere (plenty for offsets of < 1 km)."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(h))


def _china_grid():
    """100 x 100 = 10,000 WGS84 points covering mainland China."""
    return np.meshgrid(np.linspace(73.5, 135.0, 100), np.linspace(18.0, 53.5, 100))


@pytest.mark.parametrize("wgs_lon, wgs_lat, gcj_lon, gcj_lat", WGS_GCJ_PAIRS)
def test_wgs84_to_gcj02_matches_published(wgs_lon, wgs_lat, gcj_lon, gcj_lat):
    lon, lat = chinacrs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert lon == pytest.approx(gcj_lon, abs=FULL_DOUBLE_TOL)
    assert lat == pytest.approx(gcj_lat, abs=FULL_DOUBLE_TOL)


@pytest.mark.parametrize("wgs_lon, wgs_lat, gcj_lon, gcj_lat", WGS_GCJ_PAIRS)
def test_gcj02_to_wgs84_recovers_published(wgs_lon, wgs_lat, gcj_lon, gcj_lat):
    lon, lat = chinacrs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert lon == pytest.approx(wgs_lon, abs=INVERSE_TOL)
    assert lat == pytest.approx(wgs_lat, abs=INVERSE_TOL)


@pytest.mark.parametrize("gcj_lon, gcj_lat, bd_lon, bd_lat", GCJ_BD_PAIRS)
def test_gcj02_to_bd09_matches_published(gcj_lon, gcj_lat, bd_lon, bd_lat):
    lon, lat = chinacrs.gcj02_to_bd09(gcj_lon, gcj_lat)
    assert lon == pytest.approx(bd_lon, abs=FULL_DOUBLE_TOL)
    assert lat == pytest.approx(bd_lat, abs=FULL_DOUBLE_TOL)


@pytest.mark.parametrize("gcj_lon, gcj_lat, bd_lon, bd_lat", GCJ_BD_PAIRS)
def test_bd09_to_gcj02_recovers_published(gcj_lon, gcj_lat, bd_lon, bd_lat):
    lon, lat = chinacrs.bd09_to_gcj02(bd_lon, bd_lat)
    assert lon == pytest.approx(gcj_lon, abs=INVERSE_TOL)
    assert lat == pytest.approx(gcj_lat, abs=INVERSE_TOL)


def test_bd09_to_gcj02_improves_on_the_closed_form():
    bd_lon, bd_lat, closed_lon, closed_lat = CLOSED_FORM_BD_TO_GCJ
    lon, lat = chinacrs.bd09_to_gcj02(bd_lon, bd_lat)
    # Same answer as the published closed form to within its ~1e-6 deg approximation error...
    assert lon == pytest.approx(closed_lon, abs=2e-6)
    assert lat == pytest.approx(closed_lat, abs=2e-6)
    # ...but only ours maps back onto the BD-09 input.
    assert chinacrs.gcj02_to_bd09(lon, lat) == pytest.approx((bd_lon, bd_lat), abs=INVERSE_TOL)
    back = chinacrs.gcj02_to_bd09(closed_lon, closed_lat)
    assert max(abs(back[0] - bd_lon), abs(back[1] - bd_lat)) > 1e-8


@pytest.mark.parametrize("wgs, gcj, bd", GCOORD_CITIES)
def test_agrees_with_independent_city_fixture(wgs, gcj, bd):
    # GCJ-02 -> BD-09 is the same formula everywhere: only the 7-decimal rounding differs.
    assert chinacrs.gcj02_to_bd09(*gcj) == pytest.approx(bd, abs=1.5e-7)
    assert chinacrs.bd09_to_gcj02(*bd) == pytest.approx(gcj, abs=1.5e-7)
    # The public WGS84 -> GCJ-02 formula is an approximation; it stays within ~1 m of this fixture.
    lon, lat = chinacrs.wgs84_to_gcj02(*wgs)
    assert _metres(lon, lat, *gcj) < 1.0


def test_round_trip_gcj02_on_china_grid():
    lon, lat = _china_grid()
    back_lon, back_lat = chinacrs.gcj02_to_wgs84(*chinacrs.wgs84_to_gcj02(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-8
    assert np.abs(back_lat - lat).max() < 1e-8
    # The other direction too: the WGS84 we return really maps onto the given GCJ-02.
    fwd_lon, fwd_lat = chinacrs.wgs84_to_gcj02(*chinacrs.gcj02_to_wgs84(lon, lat))
    assert np.abs(fwd_lon - lon).max() < 1e-8
    assert np.abs(fwd_lat - lat).max() < 1e-8


def test_round_trip_bd09_on_china_grid():
    lon, lat = _china_grid()
    back_lon, back_lat = chinacrs.bd09_to_wgs84(*chinacrs.wgs84_to_bd09(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-8
    assert np.abs(back_lat - lat).max() < 1e-8
    gcj_lon, gcj_lat = chinacrs.bd09_to_gcj02(*chinacrs.gcj02_to_bd09(lon, lat))
    assert np.abs(gcj_lon - lon).max() < 1e-8
    assert np.abs(gcj_lat - lat).max() < 1e-8


def test_offsets_on_china_grid_are_tens_to_hundreds_of_metres():
    lon, lat = _china_grid()
    shift = _metres(lon, lat, *chinacrs.wgs84_to_gcj02(lon, lat))
    assert shift.min() > 10.0
    assert shift.max() < 1500.0


@pytest.mark.parametrize(
    "lon, lat",
    [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688), (37.6173, 55.7558), (0.0, 0.0)],
)
def test_out_of_china_points_unchanged(lon, lat):
    for func in (chinacrs.wgs84_to_gcj02, chinacrs.gcj02_to_wgs84):
        assert func(lon, lat) == (lon, lat)


def test_out_of_china_points_unchanged_in_mixed_array():
    lon = np.array([2.3522, BEIJING[0], -74.006])
    lat = np.array([48.8566, BEIJING[1], 40.7128])
    out_lon, out_lat = chinacrs.gcj02_to_wgs84(lon, lat)
    assert out_lon[[0, 2]].tolist() == lon[[0, 2]].tolist()
    assert out_lat[[0, 2]].tolist() == lat[[0, 2]].tolist()
    assert out_lon[1] != lon[1]


@pytest.mark.parametrize(
    "func",
    [
        chinacrs.wgs84_to_gcj02, chinacrs.gcj02_to_wgs84, chinacrs.gcj02_to_bd09,
        chinacrs.bd09_to_gcj02, chinacrs.bd09_to_wgs84, chinacrs.wgs84_to_bd09,
    ],
)
def test_array_shape_preserved_and_scalar_gives_float(func):
    lon, lat = _china_grid()
    lon3 = lon[:60].reshape(3, 20, 100)
    lat3 = lat[:60].reshape(3, 20, 100)
    out_lon, out_lat = func(lon3, lat3)
    assert isinstance(out_lon, np.ndarray) and isinstance(out_lat, np.ndarray)
    assert out_lon.shape == lon3.shape and out_lat.shape == lat3.shape

    s_lon, s_lat = func(*BEIJING)
    assert type(s_lon) is float and type(s_lat) is float
    # A scalar gives exactly what the same point gives inside an array.
    a_lon, a_lat = func(np.array([BEIJING[0]]), np.array([BEIJING[1]]))
    assert (s_lon, s_lat) == (a_lon[0], a_lat[0])


def test_input_arrays_not_modified():
    lon, lat = _china_grid()
    lon_copy, lat_copy = lon.copy(), lat.copy()
    chinacrs.bd09_to_wgs84(lon, lat)
    chinacrs.to_wgs84("wgs84", lon, lat)[0][0, 0] = -1.0
    assert np.array_equal(lon, lon_copy) and np.array_equal(lat, lat_copy)


@pytest.mark.parametrize("system", ["wgs84", "GCJ02", "Bd09", " gcj02 "])
def test_to_wgs84_dispatch_is_case_insensitive(system):
    lon, lat = chinacrs.to_wgs84(system, *BEIJING)
    expected = {
        "wgs84": BEIJING,
        "gcj02": chinacrs.gcj02_to_wgs84(*BEIJING),
        "bd09": chinacrs.bd09_to_wgs84(*BEIJING),
    }[system.strip().lower()]
    assert (lon, lat) == expected
    assert type(lon) is float


@pytest.mark.parametrize("system", ["epsg:4326", "gcj-02", "bd09mc", "", None, 4326])
def test_unknown_system_raises_value_error(system):
    with pytest.raises(ValueError, match="unknown coordinate system"):
        chinacrs.to_wgs84(system, *BEIJING)
    with pytest.raises(ValueError, match="unknown coordinate system"):
        chinacrs.transform_geometries(np.array([shapely.Point(BEIJING)]), system)


def _beijing_shapes():
    lon0, lat0 = BEIJING
    shell = [(lon0 - 0.02, lat0 - 0.02), (lon0 + 0.02, lat0 - 0.02),
             (lon0 + 0.02, lat0 + 0.02), (lon0 - 0.02, lat0 + 0.02)]
    hole = [(lon0 - 0.005, lat0 - 0.005), (lon0 + 0.005, lat0 - 0.005),
            (lon0 + 0.005, lat0 + 0.005), (lon0 - 0.005, lat0 + 0.005)]
    with_hole = Polygon(shell, [hole])
    multi = MultiPolygon([
        Polygon([(lon0 + 0.05, lat0), (lon0 + 0.06, lat0), (lon0 + 0.06, lat0 + 0.01)]),
        Polygon(shell, [hole]),
    ])
    return with_hole, multi


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_transform_geometries_keeps_structure_and_moves_vertices(system):
    with_hole, multi = _beijing_shapes()
    geoms = np.array([with_hole, multi, None], dtype=object)
    out = chinacrs.transform_geometries(geoms, system)

    assert isinstance(out, np.ndarray) and out.shape == geoms.shape
    assert out[2] is None
    assert out[0].geom_type == "Polygon" and len(out[0].interiors) == 1
    assert out[1].geom_type == "MultiPolygon" and len(out[1].geoms) == 2
    assert len(out[1].geoms[1].interiors) == 1
    assert shapely.get_num_coordinates(out[:2]).tolist() == shapely.get_num_coordinates(geoms[:2]).tolist()
    assert not shapely.has_z(out[:2]).any()
    assert out[0].is_valid and out[1].is_valid

    before = shapely.get_coordinates(geoms)
    after = shapely.get_coordinates(out)
    expected = np.column_stack(chinacrs.to_wgs84(system, before[:, 0], before[:, 1]))
    np.testing.assert_allclose(after, expected, rtol=0, atol=1e-12)
    # In Beijing GCJ-02 sits ~0.5-0.6 km from WGS84, and BD-09 ~1.1-1.3 km (the 0.0065/0.006 shift on top).
    moved = _metres(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
    low, high = (300.0, 900.0) if system == "gcj02" else (800.0, 1600.0)
    assert low < moved.min() and moved.max() < high

    # Inputs are left alone.
    assert shapely.equals_exact(geoms[:2], np.array(_beijing_shapes(), dtype=object), tolerance=0).all()


def test_transform_geometries_wgs84_is_identity_copy():
    with_hole, multi = _beijing_shapes()
    geoms = np.array([with_hole, multi], dtype=object)
    out = chinacrs.transform_geometries(geoms, "WGS84")
    assert out is not geoms
    assert shapely.equals_exact(out, geoms, tolerance=0).all()


def test_beijing_shift_magnitude_matches_known_offset():
    lon, lat = chinacrs.wgs84_to_gcj02(*BEIJING)
    # GCJ-02 moves central Beijing roughly 0.006 deg east and 0.0014 deg north.
    assert 0.005 < lon - BEIJING[0] < 0.007
    assert 0.001 < lat - BEIJING[1] < 0.002
    assert math.isclose(_metres(*BEIJING, lon, lat), 560.0, abs_tol=60.0)
