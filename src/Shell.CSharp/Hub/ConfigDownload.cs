using System.Security.Cryptography;
using System.Text;
using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// Reading a Hub response's body without trusting its size: a config body streams to a file and stops once it passes
/// <see cref="ConfigFile.MaxBytes"/>, and an error body is read only as far as a message needs.
/// </summary>
internal static class ConfigDownload
{
    /// <summary>How much of an error response's body a message quotes.</summary>
    private const int ExcerptChars = 1000;

    /// <summary>Streams the body of <paramref name="response"/> into <paramref name="file"/> and returns its length;
    /// a body (declared or actual) larger than <see cref="ConfigFile.MaxBytes"/> is a
    /// <see cref="SchedulerConfigException"/> naming <paramref name="shown"/>, with the file removed.</summary>
    public static long ToFile(HttpResponseMessage response, string file, string shown)
    {
        if (response.Content.Headers.ContentLength is long declared && declared > ConfigFile.MaxBytes)
            throw new SchedulerConfigException(SchedulerConfigs.TooLarge(shown) + $" (it declares {declared} bytes)", shown, new InvalidDataException("too large"));
        long total = 0;
        try
        {
            using var body = response.Content.ReadAsStream();
            using var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write);
            var buffer = new byte[65536];
            int n;
            while ((n = body.Read(buffer, 0, buffer.Length)) > 0)
            {
                total += n;
                // Checked before writing, so neither memory nor the disk ever holds more than the cap.
                if (total > ConfigFile.MaxBytes)
                    throw new SchedulerConfigException(SchedulerConfigs.TooLarge(shown), shown, new InvalidDataException("too large"));
                output.Write(buffer, 0, n);
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            File.Delete(file);
            throw new SchedulerConfigException($"cannot download {shown}: {HubEndpoint.Redact(e.Message)}", shown, e);
        }
        catch
        {
            File.Delete(file);
            throw;
        }
        return total;
    }

    /// <summary>The lowercase hex SHA-1 of a file (the commit id used when the Hub names none).</summary>
    public static string Sha1(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA1.HashData(stream));
    }

    /// <summary>The start of an error response's body, for a message.</summary>
    public static string Excerpt(HttpResponseMessage response)
    {
        using var reader = new StreamReader(response.Content.ReadAsStream(), Encoding.UTF8);
        var buffer = new char[ExcerptChars];
        var n = reader.ReadBlock(buffer, 0, buffer.Length);
        return new string(buffer, 0, n);
    }
}
