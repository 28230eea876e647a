"""Live view errors. Unknown cameras raise `api.hubview.UnknownCamera`.

LiveError
 ├── BadOffer         the SDP offer cannot be used (422)
 ├── NotForwardable   the camera's codec cannot go to a browser unchanged (409)
 ├── ViewerLimit      too many viewers of the camera or in total (503)
 ├── SetupTimeout     the peer connection was not set up in time (503)
 └── NoPicture        no keyframe to show yet, or it does not decode (503)
"""


class LiveError(Exception):
    """Base of the live view's errors; the message is safe to show to the client."""


class BadOffer(LiveError):
    """The SDP offer is malformed or has no video section that can receive H.264."""


class NotForwardable(LiveError):
    """The camera sends a codec that WebRTC cannot carry without re-encoding."""


class ViewerLimit(LiveError):
    """The cap on viewers of one camera, or on all viewers, is reached."""


class SetupTimeout(LiveError):
    """Answering the offer (ICE gathering, DTLS setup) took longer than allowed."""


class NoPicture(LiveError):
    """The camera has no keyframe in its ring yet, or it does not decode."""
