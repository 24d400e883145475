"""Per-modality encoders: image (decode, OCR, faces, visual features) and audio (decode, VAD, ASR, prosody)."""


class MediaError(ValueError):
    """A media item that cannot be used: `reason` is the DLQ reason code, `detail` the human explanation."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
