namespace PiOrchestrator.Store;

/// <summary>Why one side of a before/after pair has no good picture (the pair endpoint's missing_reason).</summary>
public static class MissingReason
{
    public const string SessionInProgress = "SESSION_IN_PROGRESS";
    public const string NoOpenEvent = "NO_OPEN_EVENT";
    public const string CaptureFailed = "CAPTURE_FAILED";
    public const string CameraOffline = "CAMERA_OFFLINE";
    public const string DoorLeftOpen = "DOOR_LEFT_OPEN";
    /// <summary>A technician's test capture: a photo of its own, with no door cycle around it.</summary>
    public const string NoDoorCycle = "NO_DOOR_CYCLE";
    /// <summary>The session was ended on request and asked for no AFTER_CLOSE photo.</summary>
    public const string EndedWithoutCapture = "ENDED_WITHOUT_CAPTURE";
}
