/*
 * Deliberation maps. "pick" (the open-a-deliberation form): tap the map to set the meeting place; the form's
 * lat/lon fields follow it, always in WGS84 whatever the basemap draws. "show" (a deliberation's page): the
 * meeting place. Community outlines come from the areas API; names reach the page through textContent only.
 */
(function (root) {
    "use strict";

    var L = root.L;

    function init(map, cfg) {
        var labels = cfg.labels || {};
        var marker = null;
        // What the page (and its tests) can reach: the map, and whether the outlines have arrived.
        var api = {map: map, outlinesLoaded: !cfg.areas};

        var proj = root.ChinaCRS.projection(cfg.crs), toDisplay = proj.toDisplay, toStored = proj.toStored;
        function mark(stored) {
            var shown = toDisplay(stored.lat, stored.lon);
            if (marker) { marker.setLatLng(shown); } else {
                marker = L.circleMarker(shown, {radius: 10, color: "#8e2c22", weight: 3, fillColor: "#f28e2b",
                                                fillOpacity: 0.9}).addTo(map);
                if (labels.place) { marker.bindTooltip(labels.place, {permanent: false}); }
            }
            return shown;
        }

        if (cfg.areas) {
            fetch(cfg.areas, {headers: {"Accept": "application/geo+json"}})
                .then(function (resp) { if (!resp.ok) { throw new Error("HTTP " + resp.status); } return resp.json(); })
                .then(function (data) {
                    var layer = L.geoJSON(data, {
                        style: {color: "#c0392b", weight: 2, fillOpacity: 0.04},
                        onEachFeature: function (feature, lyr) {
                            var span = document.createElement("span");
                            span.textContent = (feature.properties || {}).name || "";
                            lyr.bindTooltip(span, {sticky: true});
                            // Taps on an outline still place the meeting.
                            lyr.on("click", function (e) { pick(e.latlng); });
                        }
                    }).addTo(map);
                    if (layer.getLayers().length && !marker) { map.fitBounds(layer.getBounds(), {padding: [12, 12]}); }
                    api.outlinesLoaded = true;
                })
                .catch(function (err) { api.outlinesLoaded = true; console.warn("community outlines unavailable", err); });
        }

        function pick(latlng) {
            var stored = toStored(latlng);
            var lat = document.getElementById("place-lat"), lon = document.getElementById("place-lon");
            lat.value = stored.lat.toFixed(7);
            lon.value = stored.lon.toFixed(7);
            mark(stored);
            var status = document.getElementById("place-status");
            if (status) { status.textContent = labels.picked || ""; }
        }

        if (cfg.mode === "pick") {
            map.on("click", function (e) { pick(e.latlng); });
            if (cfg.picked) { map.setView(mark(cfg.picked), 17); }
        } else if (cfg.place) {
            map.setView(mark(cfg.place), 17);
        }
        api.pick = function (lat, lon) { pick(toDisplay(lat, lon)); };
        return api;
    }

    root.DeliberationMap = {init: init};
})(window);
