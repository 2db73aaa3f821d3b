/*
 * WGS84 <-> GCJ-02 in the browser, the same formulas as geodata/chinacrs.py (the browser tests compare
 * the two). The map shifts WGS84 points to GCJ-02 only to draw them on a GCJ-02 basemap; whatever a
 * person taps on such a map is turned back into WGS84 before it is sent anywhere.
 */
(function (root) {
    "use strict";

    // Krasovsky 1940 ellipsoid, as used by the public GCJ-02 formula.
    var A = 6378245.0;
    var EE = 0.00669342162296594323;
    var PI = Math.PI;
    // The rough mainland-China box of the public algorithm; outside it GCJ-02 equals WGS84.
    var LON_MIN = 72.004, LON_MAX = 137.8347, LAT_MIN = 0.8293, LAT_MAX = 55.8271;
    // The inverse stops once the forward residual is this small (degrees), as in chinacrs.py.
    var TOL = 1e-9, MAX_ITER = 20;

    function outOfChina(lon, lat) {
        return lon < LON_MIN || lon > LON_MAX || lat < LAT_MIN || lat > LAT_MAX;
    }

    function offset(lon, lat) {
        var x = lon - 105.0, y = lat - 35.0;
        var sqrtAbsX = Math.sqrt(Math.abs(x));
        var wave = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
        var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrtAbsX
            + wave
            + (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0
            + (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y / 30.0 * PI)) * 2.0 / 3.0;
        var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrtAbsX
            + wave
            + (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0
            + (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
        var rad = lat / 180.0 * PI;
        var magic = 1.0 - EE * Math.pow(Math.sin(rad), 2);
        var sqrtMagic = Math.sqrt(magic);
        dlat = dlat * 180.0 / ((A * (1.0 - EE)) / (magic * sqrtMagic) * PI);
        dlon = dlon * 180.0 / (A / sqrtMagic * Math.cos(rad) * PI);
        return [dlon, dlat];
    }

    function forward(lon, lat) {
        var d = offset(lon, lat);
        return [lon + d[0], lat + d[1]];
    }

    // [lon, lat] in GCJ-02 for a WGS84 point.
    function wgs84ToGcj02(lon, lat) {
        if (outOfChina(lon, lat)) { return [lon, lat]; }
        return forward(lon, lat);
    }

    // [lon, lat] in WGS84 for a GCJ-02 point. There is no closed form: starting from the usual
    // one-step guess, w <- w - (f(w) - g) makes the error about 150 times smaller per step.
    function gcj02ToWgs84(lon, lat) {
        if (outOfChina(lon, lat)) { return [lon, lat]; }
        var d = offset(lon, lat);
        var wLon = lon - d[0], wLat = lat - d[1];
        for (var i = 0; i < MAX_ITER; i++) {
            var f = forward(wLon, wLat);
            var rLon = f[0] - lon, rLat = f[1] - lat;
            wLon -= rLon;
            wLat -= rLat;
            if (Math.max(Math.abs(rLon), Math.abs(rLat)) < TOL) { break; }
        }
        return [wLon, wLat];
    }

    // For a map page: stored coordinates are WGS84; on a GCJ-02 basemap they are shifted only to be drawn,
    // and points taken from the map are shifted back before they are sent. Needs Leaflet (L) when called.
    function projection(crs) {
        var gcj02 = crs === "gcj02";
        return {
            toDisplay: function (lat, lon) {
                if (!gcj02) { return root.L.latLng(lat, lon); }
                var p = wgs84ToGcj02(lon, lat);
                return root.L.latLng(p[1], p[0]);
            },
            toStored: function (latlng) {
                if (!gcj02) { return {lat: latlng.lat, lon: latlng.lng}; }
                var p = gcj02ToWgs84(latlng.lng, latlng.lat);
                return {lat: p[1], lon: p[0]};
            }
        };
    }

    root.ChinaCRS = {outOfChina: outOfChina, wgs84ToGcj02: wgs84ToGcj02, gcj02ToWgs84: gcj02ToWgs84,
                     projection: projection};
})(window);
