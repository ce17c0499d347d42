/**
 * The words on-call engineers use for each topic of runbooks/causality.ts, in English, French, German and Spanish
 * (space-separated; accents may be given or not: they are folded before stemming). A word listed under several
 * topics with `~` in front (e.g. `~stuck`) is ambiguous and weighs less. Provider names and their nicknames are
 * listed apart. The question reader (question.ts) stems these with the Snowball stemmers of all four languages and
 * matches question words against them exactly, then by edit distance (typos), then inside compounds (German).
 */
import type { ProviderId } from '../../domain/config.js';
import type { Topic } from '../../runbooks/causality.js';

/** Words per topic (all languages mixed; `~word` = ambiguous, half weight). */
export const TOPIC_WORDS: Readonly<Record<Topic, string>> = {
  leads:
    'lead leads prospect prospects business businesses company companies sourcing sourced source sourcer target targets targeting listings ' +
    'entreprise entreprises commerce commerces piste pistes cible cibles societe societes ' +
    'unternehmen firma firmen betrieb betriebe interessent interessenten ziel ziele quelle ' +
    'negocio negocios empresa empresas prospecto prospectos objetivo objetivos potenciales',
  pipeline:
    'pipeline run runs ran running job jobs cron schedule scheduled scheduler nightly daily 2am overnight worker workers ~stuck stalled stall hung hanging ~paused ~still ' +
    'execution executions tache taches planifie planification nocturne ~bloque ~bloquee tourne ' +
    'lauf laufe durchlauf auftrag zeitplan nachtlich nachts ~hangt ~hangen ~pausiert ' +
    'ejecucion ejecuciones tarea tareas programada programado nocturna nocturno ~atascado ~atascada ~pausado',
  assessments:
    'assessment assessments assess assessed assessing pagespeed lighthouse score scores scoring scored insight insights website websites ~site ~sites url urls analysis audit audits vitals ' +
    'evaluation evaluations analyse notation ~siteweb ' +
    'bewertung bewertungen analyse prufung webseite webseiten bewertet ' +
    'evaluacion evaluaciones analisis puntuacion sitio sitios',
  outreach:
    'outreach draft drafts drafted drafting personalization personalisation personalize personalise personalized personalised template templates campaign campaigns copy ' +
    'prospection brouillon brouillons personnalisation campagne redige ' +
    'entwurf entwurfe personalisierung kampagne ansprache ' +
    'borrador borradores personalizacion campana alcance redactado',
  sending:
    'email emails mail mails e-mail send sending sent outgoing outbound queue queued ~pending ~stuck ~go ~out ' +
    'courriel courriels envoi envois envoyer envoye envoyes partent file ' +
    'versand senden gesendet verschickt versendet warteschlange ' +
    'correo correos envio envios enviar enviado enviados cola salen',
  deliverability:
    'bounce bounces bouncing bounced spam junk complaint complaints inbox deliverability delivered undeliverable ~webhook ~events unsubscribe unsubscribes blocklist ' +
    'rebond rebonds indesirable indesirables delivrabilite livre livres ' +
    'unzustellbar zustellung zustellbarkeit zugestellt abmeldung ' +
    'rebote rebotes rebotan entregabilidad entregado entregados baja',
  reports:
    'report reports pdf ~receive ~received ~receiving buyer buyers ~customer ~customers ~get ~got ' +
    'rapport rapports acheteur acheteurs ~client ~clients ~recu ~recoivent ' +
    'bericht berichte kaufer ~kunde ~kunden ~erhalten ~bekommen ' +
    'informe informes reporte reportes comprador compradores ~cliente ~clientes ~recibido ~reciben',
  payments:
    'payment payments pay paid checkout charge charged charges purchase purchases order orders refund total totals tax price invoice money revenue buy bought ~customer ' +
    'paiement paiements paye achat achats commande commandes facture remboursement taxe prix montant ' +
    'zahlung zahlungen bezahlt bezahlung kauf bestellung bestellungen rechnung steuer preis betrag ' +
    'pago pagos pagado compra compras pedido pedidos factura impuesto precio cobro cobrado importe',
  providers:
    'api apis provider providers integration integrations key keys token credential credentials unauthorized forbidden 401 403 429 500 502 503 504 ~rate ~limit limited throttle throttled throttling ~quota breaker circuit outage ~down unreachable ~timeout ~timeouts ' +
    'cle cles panne fournisseur fournisseurs indisponible limite ' +
    'schlussel ausfall anbieter kontingent erreichbar ' +
    'clave claves caida proveedor proveedores cuota limite',
  database:
    'database databases db postgres postgresql sql query queries index indexes indices vacuum bloat ~connection ~connections pool table tables deadlock locks ' +
    'donnees requete requetes connexion ' +
    'datenbank abfrage abfragen verbindung verbindungen tabelle ' +
    'datos consulta consultas conexion conexiones tabla tablas',
  performance:
    'slow slower slowly slowness sluggish lag laggy latency performance ~timeout ~timeouts ~hours forever crawling ' +
    'lent lente lents lenteur ralenti ralentit ' +
    'langsam langsamer trage verzogerung leistung ' +
    'lento lenta lentos lentitud rendimiento',
  resources:
    'memory ram rss heap oom leak leaking swap swapping cpu disk space box host server container machine restart restarting restarts load ' +
    'memoire disque processeur fuite serveur ' +
    'speicher arbeitsspeicher festplatte server auslastung leck ' +
    'memoria disco servidor fuga carga',
  errors:
    'error errors exception exceptions stack trace traceback logs log crash crashes crashing ~fail ~fails ~failing ~failed ~failure ~failures ' +
    'erreur erreurs journaux ~echoue ~echouent ~echec ' +
    'fehler fehlermeldung fehlermeldungen ausnahme protokoll ~scheitert ~fehlgeschlagen ' +
    'error errores excepcion excepciones registros ~falla ~fallan ~fallo ~fallando',
  backup:
    'backup backups dump restore snapshot integrity orphans ' +
    'sauvegarde sauvegardes restauration ' +
    'sicherung sicherungen wiederherstellung datensicherung ' +
    'respaldo respaldos copia restauracion',
};

/** Provider names and nicknames (exact or near spellings count). */
export const PROVIDER_WORDS: Readonly<Record<ProviderId, string>> = {
  yelp: 'yelp',
  pagespeed: 'pagespeed psi lighthouse',
  openai: 'openai gpt chatgpt llm',
  sendgrid: 'sendgrid',
  stripe: 'stripe',
};

/** Words that carry no topic in any of the four languages (never matched, never fuzzy-matched). */
export const STOP_WORDS = new Set(
  (
    'a an the is are was were be been being do does did why what when where who how which this that these those it its of in on at to for from by with and or not no any all our we i you me my your there here has have had can could should would will just today yesterday again so please some get got going go up ok okay hey hi anything something nothing everything since still very much many lot lots' +
    ' le la les un une des du de et ou est sont pas ne que qui quoi pourquoi comment nos notre nous vous je il elle ce cette ces ca rien depuis hier aujourd hui plus tout tous' +
    ' der die das ein eine einen und oder ist sind nicht kein keine warum wie was wer unsere unser wir ich es seit heute gestern mehr alle noch schon' +
    ' el la los las un una y o es son no por que porque como nuestro nuestros nosotros yo hoy ayer desde mas todo todos ya'
  ).split(/\s+/),
);
