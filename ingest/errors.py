"""Why a camera's stream stopped. One tree for the whole ingest package:

    IngestError
     ├── StreamOpenError     could not connect or the handshake failed (retry with backoff)
     ├── StreamStalled       connected, but no packet within the read timeout (retry)
     ├── StreamEnded         the server closed the stream (retry; files loop instead)
     ├── DecodeFailed        too many consecutive undecodable packets (retry)
     ├── NoFrames            packets arrive but no frame was analysed for three GOPs (state
     │                       `no_frames`, reopened with backoff)
     └── StreamUnusable      no video, unsupported codec, not a media stream (state `failed`,
                             retried only at the longest backoff)

Messages never hold a URL's credentials: they are built from redacted text.
"""


class IngestError(Exception):
    """Base of every ingest failure; `str()` is safe to show to an operator."""


class StreamOpenError(IngestError):
    """The stream could not be opened."""


class StreamStalled(IngestError):
    """No data arrived within the timeout although the connection looked alive."""


class StreamEnded(IngestError):
    """The source closed the stream."""


class DecodeFailed(IngestError):
    """Too many packets in a row could not be decoded."""


class NoFrames(IngestError):
    """Packets kept arriving but none of them became an analysed frame."""


class StreamUnusable(IngestError):
    """The source answers, but with nothing this hub can analyse."""
