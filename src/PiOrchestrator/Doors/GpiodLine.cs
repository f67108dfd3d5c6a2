using System.Runtime.InteropServices;
using PiOrchestrator.Native;

namespace PiOrchestrator.Doors;

/// <summary>One GPIO line requested for both-edge events through libgpiod 1.6. Owns the chip and the line.</summary>
public sealed class GpiodLine : IDisposable
{
    private nint _chip;
    private nint _line;

    private GpiodLine(nint chip, nint line)
    {
        _chip = chip;
        _line = line;
    }

    public static bool TryLoadLibrary(out string error) =>
        NativeLibraries.TryLoad(LibGpiod.Library, LibGpiod.DebianPackage, out error);

    /// <summary>Opens <paramref name="chip"/> (gpiochip0, or a /dev path) and requests the line; false with libgpiod's reason.</summary>
    public static bool TryOpen(string chip, int offset, string consumer, bool activeLow, string bias, out GpiodLine? line, out string error)
    {
        line = null;
        if (!TryLoadLibrary(out error)) return false;
        var chipHandle = chip.StartsWith('/') ? LibGpiod.ChipOpen(chip) : LibGpiod.ChipOpenByName(chip);
        if (chipHandle == 0)
        {
            error = $"cannot open GPIO chip {chip}: {LastError()}";
            return false;
        }
        var lineHandle = LibGpiod.ChipGetLine(chipHandle, (uint)offset);
        if (lineHandle == 0)
        {
            error = $"GPIO chip {chip} has no line {offset}: {LastError()}";
            LibGpiod.ChipClose(chipHandle);
            return false;
        }
        if (LibGpiod.LineRequestBothEdgesEventsFlags(lineHandle, consumer, Flags(activeLow, bias)) != 0)
        {
            error = $"cannot request {chip} line {offset} for edge events (in use by another program?): {LastError()}";
            LibGpiod.ChipClose(chipHandle);
            return false;
        }
        line = new GpiodLine(chipHandle, lineHandle);
        return true;
    }

    public static int Flags(bool activeLow, string bias) =>
        (activeLow ? LibGpiod.GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0) | bias switch
        {
            "pull-up" => LibGpiod.GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP,
            "pull-down" => LibGpiod.GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN,
            "disable" => LibGpiod.GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE,
            _ => 0,
        };

    /// <summary>The line's logical value (active = 1).</summary>
    public bool TryReadValue(out bool active, out string error)
    {
        var value = LibGpiod.LineGetValue(_line);
        active = value == 1;
        error = value < 0 ? $"reading the line failed: {LastError()}" : "";
        return value >= 0;
    }

    /// <summary>Blocks until an edge or the timeout; true with the edge, false on timeout. Throws on a line error.</summary>
    public bool TryWaitEdge(TimeSpan timeout, out bool rising, out DateTimeOffset at)
    {
        rising = false;
        at = default;
        var ts = new LibGpiod.Timespec { Seconds = (nint)(long)timeout.TotalSeconds, Nanoseconds = (nint)(timeout.Ticks % TimeSpan.TicksPerSecond * 100) };
        var ready = LibGpiod.LineEventWait(_line, ts);
        if (ready < 0) throw new IOException($"gpiod_line_event_wait failed: {LastError()}");
        if (ready == 0) return false;
        if (LibGpiod.LineEventRead(_line, out var e) != 0) throw new IOException($"gpiod_line_event_read failed: {LastError()}");
        rising = e.EventType == LibGpiod.GPIOD_LINE_EVENT_RISING_EDGE;
        // The kernel stamps events with CLOCK_MONOTONIC in v1; the wall clock at read time is what the session needs.
        at = DateTimeOffset.UtcNow;
        return true;
    }

    private static string LastError() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    public void Dispose()
    {
        if (_line != 0) LibGpiod.LineRelease(_line);
        if (_chip != 0) LibGpiod.ChipClose(_chip);
        _line = 0;
        _chip = 0;
    }
}
