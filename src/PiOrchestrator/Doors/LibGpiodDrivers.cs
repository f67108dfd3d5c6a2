using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Diagnostics.CodeAnalysis;
using PiOrchestrator.Native;

namespace PiOrchestrator.Doors;

/// <summary>Opens the GPIO driver of one chip: the seam between the door sensor and the hardware (tests give a simulated driver).</summary>
public interface IGpioDriverFactory
{
    /// <summary>The driver for <paramref name="chip"/> (gpiochip0); false with a reason that names what is missing.</summary>
    bool TryOpen(string chip, [NotNullWhen(true)] out GpioDriver? driver, out string error);
}

/// <summary>libgpiod 2 (Debian 13 trixie, libgpiod.so.3) or libgpiod 1 (Debian 12 bookworm, libgpiod.so.2).</summary>
public enum LibGpiodVersion
{
    V1,
    V2,
}

/// <summary>
/// System.Device.Gpio's libgpiod drivers, chosen explicitly: its automatic choice (<c>new GpioController()</c>) takes
/// direct register access on a Pi 3/4, and <c>UnixDriver.Create()</c> throws on trixie instead of falling back.
/// </summary>
public sealed class LibGpiodDriverFactory : IGpioDriverFactory
{
    public const string V2Library = "libgpiod.so.3";
    public const string V2Package = "libgpiod3";
    public const string V1Library = "libgpiod.so.2";
    public const string V1Package = "libgpiod2";

    public bool TryOpen(string chip, [NotNullWhen(true)] out GpioDriver? driver, out string error)
    {
        driver = null;
        return TryChoose(NativeLibraries.CanLoad, OsCodename(), out var version, out error)
            && TryListChips(version, out var chips, out error)
            && TryFindChip(chips, chip, "/dev", out var id, out error)
            && TryCreate(version, id, chip, out driver, out error);
    }

    /// <summary>V2 where libgpiod.so.3 loads, else V1 where libgpiod.so.2 loads; else the Debian package to install.</summary>
    public static bool TryChoose(Func<string, bool> canLoad, string? osCodename, out LibGpiodVersion version, out string error)
    {
        error = "";
        version = LibGpiodVersion.V2;
        if (canLoad(V2Library)) return true;
        version = LibGpiodVersion.V1;
        if (canLoad(V1Library)) return true;
        var install = osCodename switch
        {
            "bookworm" or "bullseye" => $"install the Debian package {V1Package} (apt-get install {V1Package})",
            "trixie" => $"install the Debian package {V2Package} (apt-get install {V2Package})",
            _ => $"install the Debian package {V2Package} (Debian 13 trixie) or {V1Package} (Debian 12 bookworm)",
        };
        error = $"libgpiod cannot be loaded (neither {V2Library} nor {V1Library}): {install}";
        return false;
    }

    /// <summary>The chips the driver sees; false with the reason when they cannot be listed.</summary>
    public static bool TryListChips(LibGpiodVersion version, out IList<GpioChipInfo> chips, out string error)
    {
        chips = [];
        error = "";
        // libgpiod 1's chip iterator comes back NULL when any chip fails to open, and System.Device.Gpio hands that
        // NULL to gpiod_chip_iter_next_noclose: the process dies of SIGSEGV. Every chip is checked first.
        if (version == LibGpiodVersion.V1 && !TryOpenEveryChip("/dev", "/sys/bus/gpio/devices", out error)) return false;
        try
        {
            chips = version == LibGpiodVersion.V2 ? LibGpiodV2Driver.GetAvailableChips() : LibGpiodDriver.GetAvailableChips();
            return true;
        }
        catch (Exception ex)
        {
            error = $"cannot list the GPIO chips: {Reason(ex)}";
            return false;
        }
    }

    /// <summary>
    /// What libgpiod 1 needs of each gpiochip node of <paramref name="devDirectory"/> to list the chips: it opens
    /// read-write and is a GPIO chip (has its entry in <paramref name="sysGpioDevices"/>). False naming the first that fails.
    /// </summary>
    public static bool TryOpenEveryChip(string devDirectory, string sysGpioDevices, out string error)
    {
        error = "";
        foreach (var path in Directory.EnumerateFileSystemEntries(devDirectory, "gpiochip*").Order(StringComparer.Ordinal))
        {
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
                var name = File.ResolveLinkTarget(path, returnFinalTarget: true)?.Name ?? Path.GetFileName(path);
                if (!Directory.Exists(Path.Combine(sysGpioDevices, name)))
                {
                    error = $"{path} is not a GPIO chip (no {Path.Combine(sysGpioDevices, name)})";
                    return false;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error = $"cannot open {path}: {ex.Message} (is the service user in the gpio group?)";
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The driver's id of the configured chip: by name (gpiochip0 or /dev/gpiochip0), following a /dev symlink (a Pi 5's
    /// gpiochip4 links to gpiochip0 on newer kernels), or by label (pinctrl-rp1).
    /// </summary>
    public static bool TryFindChip(IList<GpioChipInfo> chips, string configured, string devDirectory, out int id, out string error)
    {
        var name = Path.GetFileName(configured);
        var candidates = new List<string> { name };
        try
        {
            if (File.ResolveLinkTarget(Path.Combine(devDirectory, name), returnFinalTarget: true) is { } target) candidates.Add(target.Name);
        }
        catch (IOException)
        {
            // A broken link: the name alone decides.
        }
        var found = chips.FirstOrDefault(c => candidates.Contains(c.Name, StringComparer.Ordinal))
            ?? chips.FirstOrDefault(c => string.Equals(c.Label, configured, StringComparison.Ordinal));
        id = found?.Id ?? -1;
        error = found is null
            ? $"{configured} not found (chips: {(chips.Count == 0 ? "none" : string.Join(", ", chips.Select(c => $"{c.Name} [{c.Label}]")))})"
            : "";
        return found is not null;
    }

    /// <summary>Constructs the driver for chip <paramref name="id"/>; false with the driver's reason, naming <paramref name="chip"/>.</summary>
    public static bool TryCreate(LibGpiodVersion version, int id, string chip, [NotNullWhen(true)] out GpioDriver? driver, out string error)
    {
        error = "";
        try
        {
            driver = version == LibGpiodVersion.V2 ? new LibGpiodV2Driver(id) : new LibGpiodDriver(id);
            return true;
        }
        catch (Exception ex)
        {
            driver = null;
            error = $"cannot open GPIO chip {chip}: {Reason(ex)}";
            return false;
        }
    }

    /// <summary>The innermost message: System.Device.Gpio wraps native failures (TypeInitializationException, GpiodException).</summary>
    public static string Reason(Exception ex)
    {
        var message = ex.Message;
        for (var e = ex; e is not null; e = e.InnerException)
            if (e is not TypeInitializationException && !string.IsNullOrWhiteSpace(e.Message)) message = e.Message;
        return message;
    }

    /// <summary>VERSION_CODENAME of /etc/os-release (bookworm, trixie), or null.</summary>
    public static string? OsCodename()
    {
        try
        {
            return File.ReadLines("/etc/os-release")
                .Where(l => l.StartsWith("VERSION_CODENAME=", StringComparison.Ordinal))
                .Select(l => l["VERSION_CODENAME=".Length..].Trim('"'))
                .FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
