namespace PiOrchestrator.Store;

public sealed class EvidenceOptions
{
    /// <summary>
    /// Make a new device key when the key file is missing although captures signed with the old one exist. Without it
    /// the agent refuses to start (exit 78): a silent new key would make older evidence look tampered. Set it for the
    /// one start that rotates; the old public keys stay on record and keep verifying what they signed.
    /// </summary>
    public bool RotateDeviceKey { get; set; }
}
