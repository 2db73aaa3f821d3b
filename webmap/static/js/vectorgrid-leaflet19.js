/*
 * leaflet.vectorgrid 1.3.0 (its latest release) with Leaflet 1.9, without forking the package.
 *
 * The plugin's own interactivity (option interactive: true) does not work with Leaflet 1.8+:
 *  - a click on a canvas-drawn feature calls L.DomEvent.fakeStop, which Leaflet 1.8 removed, so every
 *    click threw a TypeError (Leaflet.VectorGrid issue 274; fixed upstream in pull 288, never released);
 *  - Leaflet 1.8+ places the events of small circles at layer.getLatLng(), which a vector-tile point
 *    does not have (it lives in tile pixels), so hovering and clicking threw again;
 *  - and an interactive canvas tile takes every pointer event over its whole square, so the community
 *    outlines under the issues could no longer show their names.
 *
 * So the layer is drawn non-interactive, and this adds a lookup of the drawn feature under a point,
 * which the map's own click and mousemove events use (livemap.js).
 */
(function (L) {
    "use strict";
    if (!L || !L.VectorGrid) { return; }

    // The plugin's canvas tiles have one pixel per CSS pixel, so on a phone (2-3 device pixels each)
    // every circle was drawn blurred. Size the canvas in device pixels and draw in CSS pixels.
    var ratio = Math.min(window.devicePixelRatio || 1, 3);
    if (L.Canvas.Tile && ratio > 1) {
        var initialize = L.Canvas.Tile.prototype.initialize;
        L.Canvas.Tile.include({
            initialize: function (tileCoord, tileSize, options) {
                initialize.call(this, tileCoord, tileSize, options);
                var canvas = this._container;
                canvas.width = tileSize.x * ratio;
                canvas.height = tileSize.y * ratio;
                canvas.style.width = tileSize.x + "px";
                canvas.style.height = tileSize.y + "px";
                this._ctx.scale(ratio, ratio);
            }
        });
    }

    L.VectorGrid.include({
        // The feature drawn nearest to a container point, within its radius plus `slack` pixels, as
        // {id, layerName, properties, symbolizer}; null when none. Needs the getFeatureId option (the
        // plugin only keeps the features of each tile when it is given).
        featureAt: function (containerPoint, slack) {
            var map = this._map;
            if (!map || !this._vectorTiles) { return null; }
            var zoom = map.getZoom();
            var tileSize = this.getTileSize();
            var global = map.containerPointToLayerPoint(containerPoint).add(map.getPixelOrigin());
            var coords = L.point(Math.floor(global.x / tileSize.x), Math.floor(global.y / tileSize.y));
            coords.z = Math.round(zoom);
            var renderer = this._vectorTiles[this._tileCoordsToKey(coords)];
            if (!renderer || !renderer._features) { return null; }
            // The point in the tile's own pixels, where the plugin placed each feature.
            var local = global.subtract(L.point(coords.x * tileSize.x, coords.y * tileSize.y));
            var best = null, bestDistance = Infinity;
            for (var id in renderer._features) {
                var entry = renderer._features[id];
                var symbolizer = entry.feature;
                if (!symbolizer._point) { continue; }
                var d = local.distanceTo(symbolizer._point);
                if (d <= (symbolizer._radius || 0) + (slack || 0) && d < bestDistance) {
                    best = {id: id, layerName: entry.layerName, properties: symbolizer.properties || {}, symbolizer: symbolizer};
                    bestDistance = d;
                }
            }
            return best;
        }
    });
})(window.L);
