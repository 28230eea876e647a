// The configuration's words as riverwatch/config.py and riverwatch/types.py spell them
// (ZoneKind, GroupKind, TripwireDirection, DEFAULT_RULES; RuleKind, Severity, DecodeMode,
// MainRing). The API does not list them, so a word changed there must be changed here.

export const ZONE_KINDS = ["watch", "no_fishing", "no_navigation", "no_dredging", "street"];
export const GROUP_KINDS = ["river", "street"];
export const SEVERITIES = ["low", "medium", "high", "critical"];
export const DIRECTIONS = ["both", "a_to_b", "b_to_a"];
export const DECODE_MODES = ["keyframes", "full"];
export const MAIN_RINGS = ["never", "on_alert", "always"];

// Every rule but line_crossing, which only tripwires raise.
export const ZONE_RULES = ["vessel_in_zone", "loitering", "dredging", "lights_at_night",
  "stationary_object", "crowding"];

export const DEFAULT_RULES = {
  no_fishing: ["vessel_in_zone", "loitering", "lights_at_night"],
  no_navigation: ["vessel_in_zone", "lights_at_night"],
  no_dredging: ["dredging", "vessel_in_zone"],
  watch: ["vessel_in_zone"],
  street: ["stationary_object", "crowding"],
};
