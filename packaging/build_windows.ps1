<#
.SYNOPSIS
  Build the Windows app of Vision Studio: a PyInstaller one-folder build and an Inno
  Setup installer (dist\vision-studio-<version>-windows-x64-<flavour>-setup.exe).

.DESCRIPTION
  From a clean checkout: creates a virtual environment, installs torch/torchvision
  (from -TorchIndex), the package with its "package" extra (PyInstaller), builds
  dist\vision-studio\ with packaging\vision_studio.spec (vision-studio.exe = GUI without
  a console window, vision-studio-cli.exe = command line), optionally runs the built
  app's --smoke self-test on the demo project, and compiles
  packaging\windows\vision-studio.iss with Inno Setup's ISCC.exe.

  GPU users: PyPI's Windows wheels of torch are CPU-only builds. For the CUDA build,
  install torch from the PyTorch index of a CUDA version, e.g.
    -TorchIndex https://download.pytorch.org/whl/cu130
  (the bundle then carries the CUDA DLLs, ~3-4 GB installed, and needs an NVIDIA
  driver that supports that CUDA version). The default is the CPU index.

.PARAMETER Python
  The Python (3.10-3.12, 64-bit) used to create the virtual environment.
.PARAMETER TorchIndex
  Package index of torch/torchvision (cpu or cuXYZ); "pypi" installs from PyPI.
.PARAMETER TorchVersion
  torch version to install (torchvision must match it: -TorchvisionVersion).
.PARAMETER Venv
  Folder of the virtual environment (created if missing).
.PARAMETER Flavour
  Name in the installer's file name: "cpu" or "cuda" (default: from -TorchIndex).
.PARAMETER Smoke
  Run the built app's --smoke self-test on the demo project before packing.
.PARAMETER NoInstaller
  Build the folder only; skip Inno Setup.
.PARAMETER Iscc
  Path of ISCC.exe (default: Inno Setup 6 in Program Files, or ISCC on PATH).

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File packaging\build_windows.ps1 -Smoke
.EXAMPLE
  .\packaging\build_windows.ps1 -TorchIndex https://download.pytorch.org/whl/cu130 -Flavour cuda
#>
[CmdletBinding()]
param(
  [string]$Python = "python",
  [string]$TorchIndex = "https://download.pytorch.org/whl/cpu",
  [string]$TorchVersion = "2.14.1",
  [string]$TorchvisionVersion = "0.29.1",
  [string]$Venv = "build\venv-windows",
  [string]$Flavour = "",
  [switch]$Smoke,
  [switch]$NoInstaller,
  [switch]$NoWeights,
  [string]$Iscc = ""
)

$ErrorActionPreference = "Stop"
$Root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
Set-Location $Root

function Log([string]$Message) { Write-Host "[build_windows] $Message" }

# Run a native program with an explicit argument array (so "-m" or "--index-url" are
# never parsed as PowerShell parameters) and stop on a non-zero exit code:
# $ErrorActionPreference does not apply to native programs in Windows PowerShell 5.1.
function Invoke-Native([string]$Exe, [string[]]$Arguments) {
  & $Exe @Arguments
  if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

if (-not $Flavour) { $Flavour = if ($TorchIndex -match "/cu\d+") { "cuda" } else { "cpu" } }

# 1. Virtual environment with torch from the chosen index, then the package + PyInstaller.
if (-not (Test-Path "$Venv\Scripts\python.exe")) { Invoke-Native $Python @("-m", "venv", $Venv) }
$Py = (Resolve-Path "$Venv\Scripts\python.exe").Path
Invoke-Native $Py @("-m", "pip", "install", "--upgrade", "pip")
$TorchArgs = @("-m", "pip", "install", "torch==$TorchVersion", "torchvision==$TorchvisionVersion")
if ($TorchIndex -ne "pypi") { $TorchArgs += @("--index-url", $TorchIndex) }
Invoke-Native $Py $TorchArgs
Invoke-Native $Py @("-m", "pip", "install", "-e", ".[package]")
$Version = (& $Py -c "import vision_studio; print(vision_studio.__version__)").Trim()
$TorchInfo = (& $Py -c "import torch; print(torch.__version__, 'cuda', torch.version.cuda)").Trim()
Log "vision-studio $Version, torch $TorchInfo, flavour $Flavour"

# 1b. The curated pretrained weights (docs/weights.md) into build\weights: the spec ships
# them as vision_studio\weights, so transfer learning works offline from the first run.
if (-not $NoWeights) { Invoke-Native $Py @("-m", "vision_studio.commands.fetch_weights", "fetch", "build\weights") }

# 2. Icons (generated with Pillow; committed, regenerated only if missing).
if (-not (Test-Path "vision_studio\resources\icon.ico")) { Invoke-Native $Py @("packaging\make_icons.py") }

# 3. PyInstaller one-folder build.
$App = Join-Path $Root "dist\vision-studio"
if (Test-Path $App) { Remove-Item -Recurse -Force $App }
$Timer = [System.Diagnostics.Stopwatch]::StartNew()
Invoke-Native $Py @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", "dist",
                   "--workpath", "build\pyinstaller", "packaging\vision_studio.spec")
$Timer.Stop()
$Bytes = (Get-ChildItem -Recurse -File $App | Measure-Object -Sum Length).Sum
Log ("build time: {0:N0} s; bundle size: {1:N2} GB" -f $Timer.Elapsed.TotalSeconds, ($Bytes / 1GB))
Invoke-Native "$App\vision-studio-cli.exe" @("--version")

# 4. Optional self-test of the built app on the demo project (skimage sample photos).
if ($Smoke) {
  $Demo = Join-Path $Root "build\smoke-demo"
  $Out = Join-Path $Root "build\smoke-out"
  Invoke-Native "$App\vision-studio-cli.exe" @("demo", "--folder", $Demo, "--no-gui")
  $Project = (Get-ChildItem -Path $Demo -Filter *.vsproj | Select-Object -First 1).FullName
  # The GUI executable has no console: wait for it and read its report file.
  $Env:QT_QPA_PLATFORM = "offscreen"
  $Proc = Start-Process -FilePath "$App\vision-studio.exe" -Wait -PassThru -NoNewWindow `
    -ArgumentList @("--smoke", "`"$Project`"", "--smoke-out", "`"$Out`"")
  Remove-Item Env:QT_QPA_PLATFORM
  if (Test-Path "$Out\smoke_report.txt") { Get-Content "$Out\smoke_report.txt" | Write-Host }
  if ($Proc.ExitCode -ne 0) { throw "smoke test of the built app failed (exit code $($Proc.ExitCode))" }
  Log "smoke test passed"
}

# 5. Inno Setup installer.
if (-not $NoInstaller) {
  if (-not $Iscc) {
    $Candidates = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
                    "$env:ProgramFiles\Inno Setup 7\ISCC.exe", "${env:ProgramFiles(x86)}\Inno Setup 7\ISCC.exe")
    $Iscc = $Candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
    if (-not $Iscc) { $Iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source }
    if (-not $Iscc) { throw "ISCC.exe not found: install Inno Setup 6 (e.g. choco install innosetup) or pass -Iscc" }
  }
  $IsccArgs = @("/DAppVersion=$Version", "/DDistDir=$App", "/DFlavour=$Flavour",
                "/O$(Join-Path $Root 'dist')")
  # A CUDA bundle compresses to more than Setup.exe can hold: split it into .bin slices.
  if ($Bytes -gt 3GB) { $IsccArgs += "/DSpanDisks" }
  Invoke-Native $Iscc ($IsccArgs + @("packaging\windows\vision-studio.iss"))
  Get-ChildItem "dist\vision-studio-$Version-windows-*" | ForEach-Object { Log "installer: $($_.Name) $([math]::Round($_.Length / 1MB)) MB" }
}
Log "done: $App\vision-studio.exe (GUI), $App\vision-studio-cli.exe (command line)"
