"""The device catalogue and the places locations are set in: what a seeded account holds.

Location 0 ("Home") gets every spec of ``HOME_SPECS`` (one of each family and of Ring's quirky kinds); the other
locations cycle through a doorbell, a camera and, for odd indexes, a chime. Changing anything here changes every
generated world (see ``tests/sim/test_world_digest.py``).
"""

from __future__ import annotations

from ringvault.sim.world.model import DeviceSpec

# (time zone, UTC offset, city, state, zip, country, latitude, longitude, street)
PLACES: tuple[tuple[str, str, str, str, str, str, float, float, str], ...] = (
    ("America/New_York", "-05:00", "Montclair", "NJ", "07042", "US", 40.8259, -74.2090, "Valley Rd"),
    ("Europe/Rome", "+01:00", "Bologna", "BO", "40121", "IT", 44.4949, 11.3426, "Via dell'Indipendenza"),
    ("America/Los_Angeles", "-08:00", "Pasadena", "CA", "91101", "US", 34.1478, -118.1445, "Colorado Blvd"),
    ("Europe/London", "+00:00", "Bristol", "", "BS1 4DJ", "GB", 51.4545, -2.5879, "Park Street"),
    ("America/Chicago", "-06:00", "Evanston", "IL", "60201", "US", 42.0451, -87.6877, "Sheridan Rd"),
    ("Europe/Berlin", "+01:00", "Leipzig", "SN", "04109", "DE", 51.3397, 12.3731, "Karl-Liebknecht-Str."),
    ("America/Denver", "-07:00", "Boulder", "CO", "80302", "US", 40.0150, -105.2705, "Pearl St"),
    ("Australia/Sydney", "+10:00", "Manly", "NSW", "2095", "AU", -33.7969, 151.2858, "The Corso"),
)
LOCATION_NAMES = ("Home", "Lake House", "Office", "Mom's Place", "Studio", "Cabin", "Shop", "Rental")
SHORT_ID_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"  # geohash alphabet, as in ids like 9q9htg-4evb0-0


HOME_SPECS: tuple[DeviceSpec, ...] = (
    DeviceSpec("doorbots", "doorbell_oyster", "Front Door", battery=True, battery_life="58"),
    DeviceSpec("doorbots", "lpd_v4", "Back Door"),
    DeviceSpec("doorbots", "doorbell_portal", "Apartment Door", battery=True, battery_life=87),
    DeviceSpec("authorized_doorbots", "doorbell_v5", "Neighbor's Door", battery=True, battery_life="71"),
    DeviceSpec("stickup_cams", "floodlight_v2", "Driveway Floodlight", light=True, siren=True, setup_flow="floodlight"),
    DeviceSpec("stickup_cams", "stickup_cam_lunar", "Garden", battery=True, siren=True, battery_life=76),
    DeviceSpec("stickup_cams", "cocoa_spotlight", "Side Yard", light=True, siren=True, setup_flow="wired"),
    DeviceSpec("stickup_cams", "stickup_cam_mini_v2", "Living Room", siren=True, protect=False),
    DeviceSpec("stickup_cams", "cocoa_camera_v3", "Garage Cam", battery=True, siren=True, battery_life="100"),
    DeviceSpec("chimes", "chime_pro_v2", "Hall Chime"),
    DeviceSpec("chimes", "chime", "Upstairs Chime"),
    DeviceSpec("base_stations", "base_station_v1", "Alarm Base Station"),
    DeviceSpec("beams_bridges", "beams_bridge_v1", "Lighting Bridge"),
    DeviceSpec("other", "intercom_handset_audio", "Building Entrance", battery=True, battery_life="52", protect=False),
    DeviceSpec("other", "third_party_gdo", "Garage Door", protect=False),
    DeviceSpec("other", "onvif_camera", "Backyard ONVIF", protect=False),
)

AWAY_DOORBELLS: tuple[DeviceSpec, ...] = (
    DeviceSpec("doorbots", "lpd_v1", "Front Door", battery_life=4081),  # wired, yet a huge battery_life (quirk)
    DeviceSpec("doorbots", "cocoa_doorbell_v2", "Front Door", battery=True, battery_life=93),
    DeviceSpec("doorbots", "doorbell_scallop", "Porch", battery=True, battery_life="64"),
)
AWAY_CAMERAS: tuple[DeviceSpec, ...] = (
    DeviceSpec("stickup_cams", "hexa_camera_2_v1", "Patio Cam", siren=True),
    DeviceSpec(
        "stickup_cams", "stickup_cam_v4", "Backyard Spotlight", battery=True, light=True, siren=True, battery_life=81
    ),
    DeviceSpec("stickup_cams", "stickup_cam_elite", "Carport", siren=True),
)
AWAY_CHIME = DeviceSpec("chimes", "chime_v2", "Kitchen Chime")
