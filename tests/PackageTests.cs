using System.Diagnostics;
using System.Globalization;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>
/// SLOW (about 90 s): packs Schedulers.Core, Schedulers.Evaluation, Schedulers and Schedulers.Tool into a temporary folder, then uses them
/// the way a user would — a fresh console project outside the repository referencing Schedulers 0.1.0 runs a
/// DPM-Solver step on TorchSharp (which proves the TorchSharp native-library fix travels in the package), and the
/// tool, packed as on a machine whose libstdc++ needs no fix, carries the patched library and, installed from the
/// folder, writes samples.png. Filter it out with <c>--filter Category!=Slow</c>.
/// </summary>
[Trait("Category", "Slow")]
public sealed class PackageTests : IDisposable
{
    private const string Version = "0.1.0";
    private readonly string _root = Directory.CreateTempSubdirectory("schedulers-pack-").FullName;

    [Fact]
    public void Packed_library_runs_in_a_fresh_project_and_packed_tool_samples()
    {
        var repo = RepositoryRoot();
        var packages = Path.Combine(_root, "packages");
        foreach (var project in new[] { "src/Core.FSharp", "src/Evaluation.FSharp", "src/Shell.CSharp" })
            Run("dotnet", $"pack \"{Path.Combine(repo, project)}\" -c Release -o \"{packages}\"", repo);
        // The tool is packed as on a machine whose libstdc++ has GLIBCXX_3.4.32 (a stand-in file that lists it), where
        // a normal build leaves TorchSharp's library as shipped: the package must carry the patched copy all the same,
        // and the tool installed from it must run here, on a libstdc++ without that version.
        var newerLibStdCxx = Path.Combine(_root, "libstdc++.so.6");
        File.WriteAllText(newerLibStdCxx, "GLIBCXX_3.4.30\0GLIBCXX_3.4.31\0GLIBCXX_3.4.32\0");
        // A fresh publish folder: a copy patched by an earlier build in bin/ would survive the publish (newer than the
        // NuGet cache's) and hide a missing patch.
        var publish = Path.Combine(_root, "tool-publish") + Path.DirectorySeparatorChar;
        Run("dotnet", $"pack \"{Path.Combine(repo, "src/Cli")}\" -c Release -o \"{packages}\" -p:SchedulersLibStdCxxPaths=\"{newerLibStdCxx}\" -p:PublishDir=\"{publish}\"", repo);
        foreach (var id in new[] { "Schedulers.Core", "Schedulers.Evaluation", "Schedulers", "Schedulers.Tool" })
            Assert.True(File.Exists(Path.Combine(packages, $"{id}.{Version}.nupkg")), $"{id}.{Version}.nupkg was not packed");
        Assert.Equal([true], TorchSharpNativeWeakFlags(Path.Combine(packages, $"Schedulers.Tool.{Version}.nupkg")));

        var consumer = WriteConsumer(packages);
        var printed = Run("dotnet", "run -c Release", consumer).Trim();
        Assert.Equal(ExpectedFirstStepValue(), printed.Split('\n')[^1].Trim());

        var tools = Path.Combine(_root, "tools");
        Run("dotnet", $"tool install --tool-path \"{tools}\" --add-source \"{packages}\" Schedulers.Tool --version {Version}", _root);
        var work = Directory.CreateDirectory(Path.Combine(_root, "work")).FullName;
        Run(Path.Combine(tools, "schedulers"), "sample --samples 200 --steps 10", work);
        var png = Path.Combine(work, "samples.png");
        Assert.True(File.Exists(png), "schedulers sample wrote no samples.png");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
    }

    /// <summary>The consumer program's first DPM-Solver++ step, computed here with the repository's own build.</summary>
    private static string ExpectedFirstStepValue()
    {
        var scheduler = new DPMSolverMultistepScheduler();
        scheduler.SetTimesteps(10);
        using var sample = ones(1, 2);
        using var eps = full(1, 2, 0.5f);
        var t = scheduler.Timesteps[0].item<long>();
        using var prev = scheduler.Step(eps, t, sample).PrevSample;
        return prev[0, 0].item<float>().ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>For each libLibTorchSharp.so in the package: whether its GLIBCXX_3.4.32 requirement is weak.</summary>
    private static bool[] TorchSharpNativeWeakFlags(string nupkg)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(nupkg);
        return zip.Entries.Where(e => e.Name == "libLibTorchSharp.so").Select(e =>
        {
            using var stream = e.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return (ElfVersionRequirementFlags(copy.ToArray(), "GLIBCXX_3.4.32").Single() & 0x2) != 0;
        }).ToArray();
    }

    /// <summary>The vna_flags of every version requirement (Vernaux in SHT_GNU_verneed) named <paramref name="version"/>
    /// in a little-endian ELF64 file; VER_FLG_WEAK is 0x2.</summary>
    private static List<ushort> ElfVersionRequirementFlags(byte[] elf, string version)
    {
        var flags = new List<ushort>();
        long sections = BitConverter.ToInt64(elf, 0x28);
        int entrySize = BitConverter.ToUInt16(elf, 0x3A), count = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < count; i++)
        {
            int header = (int)(sections + i * entrySize);
            if (BitConverter.ToUInt32(elf, header + 4) != 0x6ffffffe) continue;
            int strings = (int)BitConverter.ToInt64(elf, (int)(sections + BitConverter.ToUInt32(elf, header + 0x28) * entrySize) + 0x18);
            int need = (int)BitConverter.ToInt64(elf, header + 0x18);
            for (uint n = 0; n < BitConverter.ToUInt32(elf, header + 0x2C); n++)
            {
                int aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (int a = 0; a < BitConverter.ToUInt16(elf, need + 2); a++)
                {
                    int name = strings + (int)BitConverter.ToUInt32(elf, aux + 8);
                    if (System.Text.Encoding.ASCII.GetString(elf, name, Array.IndexOf(elf, (byte)0, name) - name) == version)
                        flags.Add(BitConverter.ToUInt16(elf, aux + 4));
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                need += (int)BitConverter.ToUInt32(elf, need + 12);
            }
        }
        return flags;
    }

    private const string ConsumerProgram = """
        using System.Globalization;
        using Schedulers;
        using static TorchSharp.torch;

        var scheduler = new DPMSolverMultistepScheduler();
        scheduler.SetTimesteps(10);
        var sample = ones(1, 2);
        var eps = full(1, 2, 0.5f);
        var t = scheduler.Timesteps[0].item<long>();
        var prev = scheduler.Step(eps, t, sample).PrevSample;
        Console.WriteLine(prev[0, 0].item<float>().ToString("R", CultureInfo.InvariantCulture));
        """;

    private string WriteConsumer(string packages)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "consumer")).FullName;
        // The temporary folder is outside the repository; these keep any outer MSBuild settings from leaking in.
        File.WriteAllText(Path.Combine(_root, "Directory.Build.props"),
            "<Project><PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>");
        File.WriteAllText(Path.Combine(_root, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(_root, "Directory.Packages.props"),
            "<Project><PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>");
        File.WriteAllText(Path.Combine(dir, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Schedulers" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), ConsumerProgram);
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{packages}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="Schedulers" />
                  <package pattern="Schedulers.*" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        return dir;
    }

    private static string Run(string file, string arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // A fresh package cache would download TorchSharp again; a separate one for the packed ids avoids stale
        // copies of Schedulers 0.1.0 from earlier runs.
        info.Environment["NUGET_PACKAGES"] = SharedCacheWithoutSchedulers();
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), $"{file} {arguments} did not finish in 5 minutes");
        Assert.True(process.ExitCode == 0,
            $"{file} {arguments} exited with {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

    private static string SharedCacheWithoutSchedulers()
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "schedulers", "schedulers.core", "schedulers.tool" })
        {
            var packed = Path.Combine(cache, id, Version);
            if (Directory.Exists(packed)) Directory.Delete(packed, recursive: true);
        }
        return cache;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Schedulers.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Schedulers.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Removes the temporary packages, consumer project and tool.</summary>
    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
