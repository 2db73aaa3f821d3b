-- Problem categories; the codes are also the Open311 service_codes, so they never change once published.
CREATE TABLE categories (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    name       text NOT NULL,
    name_en    text NOT NULL,
    sla_days   integer NOT NULL CHECK (sla_days > 0),
    sort_order integer NOT NULL DEFAULT 100,
    active     boolean NOT NULL DEFAULT true
);

INSERT INTO categories (code, name, name_en, sla_days, sort_order) VALUES
    ('litter',               '垃圾堆放',     'Litter',                        2,  10),
    ('blocked_passage',      '占道停车',     'Vehicles blocking passage',     1,  20),
    ('street_light',         '路灯损坏',     'Broken street light',           5,  30),
    ('fire_lane',            '消防通道堵塞', 'Blocked fire lane',             1,  40),
    ('greenery',             '绿化破坏',     'Damaged greenery',              7,  50),
    ('noise',                '噪音扰民',     'Noise',                         3,  60),
    ('manhole',              '井盖缺失',     'Missing manhole cover',         1,  70),
    ('stairwell_clutter',    '楼道堆物',     'Clutter in stairwell',          5,  80),
    ('illegal_construction', '违章搭建',     'Illegal construction',         15,  90),
    ('drain',                '下水道堵塞',   'Blocked drain',                 3, 100),
    ('other',                '其他',         'Other',                         7, 110)
ON CONFLICT (code) DO NOTHING;
