"""Camera profiles: what kind of camera a simulated camera is (`riverwatch simulate --profile`).

A profiled camera serves two mounts, `/<id>/main` and `/<id>/sub`, like a real camera's main
stream (for evidence) and sub-stream (for analysis); the `classic` profile keeps the single
`/<id>` H.264 640x360 mount of the first simulator. `city-mix` is a fleet of mostly proper
cameras with a few odd and broken ones, each odd kind pinned to one scene so that a fleet of
any size needs at most a dozen main-stream encodes.

    profile        main stream                                   sub-stream
    hd             H.265 1280x720 2.5 Mbps, B-frames, AAC, GOP 2 s   H.264 640x360 512 kbps, GOP 2 s
    fullhd         H.265 1920x1080 4 Mbps, B-frames, AAC, GOP 2 s    same sub
    gop4, gop8     hd with a 4 s / 8 s GOP on both streams
    smart          hd with keyframes at irregular 4-10 s intervals on both streams
    restreamer     H.264 1280x720 2 Mbps, no audio; every RTP timestamp constant (both mounts)
    codec-switch   H.264 1280x720, then H.265 1280x720 after the client reconnects
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from simulator.streams import StreamSpec

CLASSIC = "classic"
CITY_MIX = "city-mix"


@dataclass(frozen=True)
class CameraProfile:
    """One kind of camera: its main stream(s), its sub-stream and how its server misbehaves.

    `main` holds more than one stream for a camera that switches codec: each new session on
    the mount (after every client has left) plays the next one.
    """

    name: str
    description: str
    main: tuple[StreamSpec, ...]
    sub: StreamSpec
    constant_timestamps: bool = False


def _sub(gop_s: int | None = 2) -> StreamSpec:
    return StreamSpec("h264", 640, 360, 512, gop_s)


def _hd(gop_s: int | None = 2) -> StreamSpec:
    return StreamSpec("h265", 1280, 720, 2500, gop_s, bframes=3, audio=True)


_H264_720 = StreamSpec("h264", 1280, 720, 2000)

PROFILES: dict[str, CameraProfile] = {
    p.name: p
    for p in (
        CameraProfile("hd", "a proper camera, 720p H.265 main", (_hd(),), _sub()),
        CameraProfile(
            "fullhd",
            "a proper camera, 1080p H.265 main",
            (replace(_hd(), width=1920, height=1080, kbps=4000),),
            _sub(),
        ),
        CameraProfile("gop4", "keyframes every 4 s", (_hd(4),), _sub(4)),
        CameraProfile("gop8", "keyframes every 8 s", (_hd(8),), _sub(8)),
        CameraProfile("smart", "smart codec: keyframes every 4-10 s", (_hd(None),), _sub(None)),
        CameraProfile(
            "restreamer",
            "a restreamer that sends constant RTP timestamps",
            (_H264_720,),
            _sub(),
            constant_timestamps=True,
        ),
        CameraProfile(
            "codec-switch", "H.264, then H.265 after a reconnect", (_H264_720, _hd()), _sub()
        ),
    )
}

# One block of 25 cameras of the city mix, repeated: mostly proper 720p cameras.
CITY_BLOCK = (
    "hd", "hd", "fullhd", "hd", "gop4", "hd", "hd", "smart", "hd", "restreamer",
    "hd", "hd", "gop8", "hd", "hd", "codec-switch", "hd", "hd", "fullhd", "hd",
    "hd", "hd", "hd", "hd", "hd",
)  # fmt: skip
# The odd kinds each play one scene, so the mix needs few encodes whatever its size.
PINNED_SCENES = {
    "fullhd": "river_boat_crossing",
    "gop4": "street",
    "gop8": "river_calm",
    "smart": "river_loitering",
    "restreamer": "river_rain",
    "codec-switch": "river_night",
}


def profile_names() -> list[str]:
    """Every name `--profile` takes."""
    return [CLASSIC, CITY_MIX, *PROFILES]


def camera_profiles(profile: str, count: int) -> list[str]:
    """The profile of each of `count` cameras."""
    if profile == CITY_MIX:
        return [CITY_BLOCK[i % len(CITY_BLOCK)] for i in range(count)]
    if profile != CLASSIC and profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; profiles: {', '.join(profile_names())}")
    return [profile] * count
