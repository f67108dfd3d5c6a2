namespace PiOrchestrator.Hosting;

/// <summary>
/// A setting or file the agent cannot start with, found while its services are built: the message is the one line an
/// operator reads (naming the file or option), and the agent exits 78 so that systemd does not restart it in a loop.
/// </summary>
public sealed class ConfigurationException(string message) : Exception(message);
